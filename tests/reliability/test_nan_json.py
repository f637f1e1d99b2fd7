"""No output JSON holds NaN or Infinity (issue 12, item 8).

Before, a checkpoint whose weights are NaN evaluated "successfully" and eval/step-<step>.json got
`"loss": NaN`, which is not JSON (a strict parser refuses it), and audit.json inherited it. Now
every JSON the package writes goes through resnext.atomic.json_text: a non-finite float becomes
null and the record names it in "warnings" ("loss is NaN"); the report lists such an evaluation
among its consistency problems, in report.md and in audit.json, which stays valid JSON.
"""

import json
import math
import os
import shutil

import pytest

from resnext import atomic, paths

import hostile as H
import rel_support as S


def _strict(path):
    """The JSON at `path`, read by a parser that refuses NaN and Infinity (as JSON does)."""

    def refuse(name):
        raise AssertionError("%s holds %s" % (path, name))

    with open(str(path), encoding="utf-8") as f:
        return json.load(f, parse_constant=refuse)


def test_the_writer_puts_null_and_names_each_non_finite_value(tmp_path):
    path = str(tmp_path / "r.json")
    atomic.write_json(
        path,
        {
            "loss": float("nan"),
            "top1_ci95": [float("inf"), 0.5],
            "nested": {"x": -float("inf")},
            "ok": 1.5,
            "warnings": ["kept from before"],
        },
    )
    assert _strict(path) == {
        "loss": None,
        "top1_ci95": [None, 0.5],
        "nested": {"x": None},
        "ok": 1.5,
        "warnings": [
            "kept from before",
            "loss is NaN",
            "nested.x is -Infinity",
            "top1_ci95[0] is Infinity",
        ],
    }
    atomic.write_json(path, [float("nan")])  # no record to name it in: null all the same
    assert _strict(path) == [None]
    line = atomic.json_text({"loss": float("nan")})
    assert json.loads(line, parse_constant=pytest.fail) == {
        "loss": None,
        "warnings": ["loss is NaN"],
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits_data):
    """A run of the tiny model trained to step 4 (its block record and metrics too)."""
    from resnext.backends import get_backend
    from resnext.train import loop

    results = tmp_path_factory.mktemp("nan") / "results"
    cfg = S.tiny_config(digits_data, results, "tiny")
    loop.train_block(cfg, 4, get_backend(cfg, 0, 1))
    return cfg.run_dir


def _poison(prefix):
    """Rewrite checkpoint `prefix` with TensorFlow's own Saver: every float variable NaN."""
    import numpy as np
    import tensorflow.compat.v1 as tf

    reader = tf.train.load_checkpoint(prefix)
    with tf.Graph().as_default():
        variables = []
        for name, shape in sorted(reader.get_variable_to_shape_map().items()):
            value = reader.get_tensor(name)
            if np.issubdtype(value.dtype, np.floating):
                value = np.full(shape, np.nan, value.dtype)
            variables.append(tf.Variable(value, name=name))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            tf.train.Saver(variables).save(sess, prefix, write_meta_graph=False)


def test_a_nan_checkpoint_gives_null_a_warning_and_a_flagged_report(
    trained, digits_data, tmp_path, caplog, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESNEXT_REFERENCE", raising=False)
    results = tmp_path / "results"
    shutil.copytree(os.path.dirname(trained), str(results))
    config = H.tiny_config_file(tmp_path / "c.yaml", digits_data, results)
    run_dir = str(results / "tiny")
    prefix = paths.ckpt_prefix(paths.train_dir(run_dir), 4)
    _poison(prefix)
    data = H.tree(digits_data)
    code, text = H.main(["evaluate", "--config", config, "--checkpoint", prefix], caplog)
    assert code == 0 and "Traceback" not in text, text
    result = _strict(paths.eval_json(run_dir, 4))
    assert result["loss"] is None and result["warnings"] == ["loss is NaN"], result
    assert isinstance(result["top1"], float) and math.isfinite(result["top1"])
    assert "loss is NaN; written as null" in text
    code, text = H.main(["report", "--config", config], caplog)
    assert code == 0 and "Traceback" not in text, text
    audit = _strict(os.path.join(run_dir, "report", "audit.json"))
    flagged = [p for p in audit["consistency_problems"] if p.startswith("eval/step-4.json: ")]
    assert len(flagged) == 1 and "loss is NaN" in flagged[0], audit["consistency_problems"]
    assert [e["warnings"] for e in audit["evaluations"]] == [["loss is NaN"]]
    with open(os.path.join(run_dir, "report", "report.md"), encoding="utf-8") as f:
        assert "eval/step-4.json: loss is NaN" in f.read()
    assert H.tree(digits_data) == data
