"""Evaluation (every validation image once) and export (frozen graph equals the checkpoint)."""

import json
import os

import numpy as np
import pytest

from resnext import checkpoints, paths
from resnext.backends import get_backend
from resnext.compat import tf
from resnext.evaluate import evaluate
from resnext.export import export, run_frozen
from resnext.train import loop


@pytest.fixture
def trained(tiny_cfg):
    cfg = tiny_cfg(eval_batch_size=16)  # 40 validation images: batches of 16, 16, 8 (+8 padding)
    loop.train_block(cfg, 4, get_backend(cfg))
    return cfg, paths.ckpt_prefix(cfg.train_dir, 4)


def test_evaluate_counts_every_image_once(trained):
    cfg, prefix = trained
    result = evaluate(cfg, prefix)
    on_disk = json.load(open(os.path.join(cfg.run_dir, "eval", "step-4.json")))
    assert on_disk == result
    assert result["num_images"] == 40 and result["step"] == 4
    assert 0.0 <= result["top1"] <= result["top5"] <= 1.0 and result["loss"] > 0
    assert result["checkpoint"]["sha256"] == checkpoints.sha256(prefix)
    assert (
        result["checkpoint"]["time_utc"].endswith("Z") and result["config_sha256"] == cfg.sha256()
    )


def test_evaluate_is_deterministic(trained):
    cfg, prefix = trained
    a = evaluate(cfg, prefix, out_path=os.path.join(cfg.run_dir, "a.json"))
    b = evaluate(cfg, prefix, out_path=os.path.join(cfg.run_dir, "b.json"))
    assert (a["top1"], a["top5"], a["loss"]) == (b["top1"], b["top5"], b["loss"])


def test_missing_checkpoint_is_named_and_nothing_written(tiny_cfg):
    cfg = tiny_cfg()
    prefix = paths.ckpt_prefix(cfg.train_dir, 4)
    with pytest.raises(FileNotFoundError, match="model.ckpt-4"):
        evaluate(cfg, prefix)
    with pytest.raises(FileNotFoundError, match="model.ckpt-4"):
        export(cfg, prefix)
    assert not os.path.exists(cfg.run_dir) or not os.listdir(cfg.run_dir)


def test_export_writes_a_frozen_graph_that_matches_the_checkpoint(trained):
    cfg, prefix = trained
    record = export(cfg, prefix)
    graph_def = tf.GraphDef()
    with open(record["graph"], "rb") as f:
        graph_def.ParseFromString(f.read())
    names = {n.name for n in graph_def.node}
    assert {"input", "logits", "probabilities"} <= names
    assert not [n for n in graph_def.node if n.op in ("VariableV2", "VarHandleOp")]
    assert record["num_images_checked"] == 16 and record["max_abs_diff_logits"] < 1e-4
    out = run_frozen(graph_def, np.zeros([2, 32, 32, 3], np.float32))
    assert out["probabilities"].shape == (2, 10)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    assert (
        json.load(open(os.path.join(cfg.run_dir, "export", "export.json")))["graph_sha256"]
        == record["graph_sha256"]
    )
