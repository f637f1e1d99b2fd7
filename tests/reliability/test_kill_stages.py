"""SIGKILL of an evaluation, a conversion and a report, each at two points: while it works and the
instant its first output file appears. No partial file is ever taken for a result; a rerun writes
the same result as an uninterrupted run."""

import os
import re

import pytest

from resnext.backends import get_backend
from resnext.config import ConfigError
from resnext.evaluate import evaluate
from resnext.train import loop, preflight

import rel_support as S
from resnext import paths

SHARD = re.compile(r"^(train|validation)-\d{5}-of-\d{5}$")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits_data):
    """A tiny run trained in-process: checkpoints 4 and 8."""
    root = tmp_path_factory.mktemp("stages")
    cfg = S.tiny_config(digits_data, root / "results", "stages")
    for step in cfg.block_steps:
        loop.train_block(cfg, step, get_backend(cfg, 0, 1))
    return cfg, S.write_config(cfg, root / "stages.yaml"), root


def _results_in(folder, pattern):
    return sorted(n for n in os.listdir(str(folder)) if re.match(pattern, n))


# ---------------------------------------------------------------- evaluation


def test_a_killed_evaluation_leaves_no_result_and_its_rerun_equals_an_uninterrupted_one(trained):
    cfg, path, root = trained
    prefix = paths.ckpt_prefix(cfg.train_dir, 4)
    eval_dir = os.path.join(cfg.run_dir, "eval")
    out = os.path.join(eval_dir, "step-4.json")
    reference = evaluate(cfg, prefix, str(root / "reference-step-4.json"))
    log = root / "evaluate.log"

    # 1. while it restores the checkpoint and runs the validation set
    proc = S.start_cli(["evaluate", "--config", path, "--checkpoint", prefix + ".index"], log)
    assert S.kill_when(proc, lambda: "Restoring parameters" in log.read_text()), log.read_text()[
        -2000:
    ]
    assert not os.path.exists(out)
    # 2. the instant the result's temp file appears (between writing it and renaming it)
    proc = S.start_cli(["evaluate", "--config", path, "--checkpoint", prefix + ".index"], log)
    hit = S.kill_on_file(proc, eval_dir, lambda name: name.startswith("step-4.json"))
    assert hit is not None, log.read_text()[-2000:]
    if os.path.exists(out):  # the rename beat the kill: then the file is whole
        assert S.eval_numbers(S.read_json(out)) == S.eval_numbers(reference)
    leftovers = [n for n in os.listdir(eval_dir) if n != "step-4.json"]
    assert all(not re.match(r"^step-\d+\.json$", n) for n in leftovers)  # never named like a result
    from resnext.report.collect import MissingResultsError, collect

    try:  # the report reads only whole results (or says there are none)
        assert [e["step"] for e in collect(cfg).evals] == [4]
    except MissingResultsError:
        assert not os.path.exists(out)

    S.run_cli("evaluate", "--config", path, "--checkpoint", prefix + ".index")
    result = S.read_json(out)
    assert S.without(result, S.EVAL_VOLATILE) == S.without(reference, S.EVAL_VOLATILE)


# ---------------------------------------------------------------- conversion


def test_a_killed_conversion_is_never_used_and_its_rerun_writes_the_same_shards(trained, tmp_path):
    from resnext.data import convert
    from support.trees import write_tree

    source = write_tree(tmp_path / "source", 12, (4,) * 10, 32)
    ref_cfg = S.tiny_config(tmp_path / "ref-data", tmp_path / "results", source_dir=source)
    reference = convert.convert(ref_cfg)
    cfg = S.tiny_config(tmp_path / "data", tmp_path / "results", source_dir=source)
    path = S.write_config(cfg, tmp_path / "convert.yaml")
    log = tmp_path / "convert.log"
    data = tmp_path / "data"

    # 1. the first shard file (temp or final) appears;
    # 2. the first whole shard is renamed into place
    for predicate in (
        lambda n: n.startswith(("train-", "validation-")),
        lambda n: bool(SHARD.match(n)),
    ):
        proc = S.start_cli(["convert", "--config", path], log)
        assert S.kill_on_file(proc, data, predicate) is not None, log.read_text()[-2000:]
        assert not (data / "manifest.json").exists()
        with pytest.raises(ConfigError, match="manifest.json"):
            preflight.check_train_data(cfg)  # training refuses a dataset without its manifest
    half = sorted(n for n in os.listdir(str(data)) if SHARD.match(n))
    assert len(half) < 4, half

    S.run_cli("convert", "--config", path)
    manifest = S.read_json(data / "manifest.json")
    names = sorted(n for n in os.listdir(str(data)) if SHARD.match(n))
    assert names == sorted(n for n in os.listdir(str(tmp_path / "ref-data")) if SHARD.match(n))
    for name in names:
        assert S.file_sha256(data / name) == S.file_sha256(tmp_path / "ref-data" / name), name

    def shards(m):
        return {
            split: [(s["name"], s["num_records"], s["sha256"]) for s in entry["shards"]]
            for split, entry in m["splits"].items()
        }

    assert shards(manifest) == shards(reference) and manifest["label_map"] == reference["label_map"]
    assert not [
        n
        for n in os.listdir(str(data))
        if n.startswith(("train-", "validation-")) and not SHARD.match(n)
    ]


def test_evaluation_refuses_the_shards_of_a_killed_conversion(trained, tmp_path):
    """A conversion killed after its first validation shard: without manifest.json the shard set is
    unproven, and an evaluation over it would count fewer images than the validation set has."""
    cfg, _, _ = trained
    data = tmp_path / "partial"
    data.mkdir()
    os.link(
        os.path.join(cfg.data_dir, "validation-00000-of-00002"),
        str(data / "validation-00000-of-00002"),
    )
    partial = cfg.replace(data_url=str(data), run_name="partial")
    with pytest.raises((ConfigError, FileNotFoundError), match="manifest"):
        evaluate(partial, paths.ckpt_prefix(cfg.train_dir, 4))
    assert not os.path.exists(os.path.join(partial.run_dir, "eval"))


# ---------------------------------------------------------------- report


def test_a_killed_report_is_rebuilt_identically(trained, monkeypatch):
    from resnext.export import export
    from resnext.report import build_report

    cfg, path, root = trained
    for step in cfg.block_steps:
        evaluate(cfg, paths.ckpt_prefix(cfg.train_dir, step))
    export(cfg, paths.ckpt_prefix(cfg.train_dir, 8))
    epoch = {"SOURCE_DATE_EPOCH": "1700000000"}  # the report's own time stamp, fixed
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch["SOURCE_DATE_EPOCH"])
    report_dir = os.path.join(cfg.run_dir, "report")
    build_report(cfg)
    reference = {n: open(os.path.join(report_dir, n), "rb").read() for n in os.listdir(report_dir)}
    assert {"report.md", "eval_table.txt", "audit.json"} <= set(reference)
    for name in reference:
        os.remove(os.path.join(report_dir, name))
    log = root / "report.log"

    # 1. the instant its first file appears;
    # 2. the instant its first whole file is renamed into place
    for predicate in (lambda n: True, lambda n: n in reference):
        proc = S.start_cli(["report", "--config", path], log, extra_env=epoch)
        assert S.kill_on_file(proc, report_dir, predicate) is not None, log.read_text()[-2000:]
        for name in set(os.listdir(report_dir)) & set(reference):  # whatever has its name is whole
            assert open(os.path.join(report_dir, name), "rb").read() == reference[name], name

    S.run_cli("report", "--config", path, extra_env=epoch)
    rebuilt = {
        n: open(os.path.join(report_dir, n), "rb").read()
        for n in os.listdir(report_dir)
        if n in reference
    }
    assert sorted(rebuilt) == sorted(reference)
    different = sorted(n for n in reference if rebuilt[n] != reference[n])
    assert different == [], different
