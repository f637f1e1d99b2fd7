"""resnext verify: a run's every claim re-checked from its bytes. A synthetic run (real config,
real predictions writer, checkpoint/shard/graph files of plain bytes: verify only hashes them)
is tampered one file at a time; each tamper must fail naming exactly that file."""

import glob
import hashlib
import json
import os
import re
import shutil

import numpy as np
import pytest
import yaml

from resnext import checkpoints, paths, predictions
from resnext import verify as verify_mod
from resnext.cli import main
from resnext.config import RESOLVED_HEADER, keys_sha256, load_config, write_resolved

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _rows(n=10):
    hits = np.arange(n) % 5 != 0  # 8 of 10
    return {
        "record_id": np.array(["validation-00000-of-00001:%d" % i for i in range(n)]),
        "file_name": np.array(["img%d.JPEG" % i for i in range(n)]),
        "label": np.arange(n, dtype=np.int32) % 3,
        "top5": np.tile(np.arange(3, dtype=np.int32), (n, 1)),
        "label_probability": np.full(n, 0.5, np.float32),
        "top1_correct": hits,
        "top5_correct": np.ones(n, bool),
    }


@pytest.fixture
def run(tmp_path):
    """A finished run: config, manifest + shard, 2 evaluated checkpoints, export, report."""
    d = str(tmp_path / "a run")
    cfg = load_config([os.path.join(ROOT, "config", "config.yaml")])
    os.makedirs(d)
    config_sha = write_resolved(cfg, os.path.join(d, "config.resolved.yaml"))
    _write(os.path.join(d, "data", "validation-00000-of-00001"), b"shard bytes" * 100)
    manifest = {
        "splits": {
            "validation": {
                "num_images": 10,
                "shards": [
                    {
                        "name": "validation-00000-of-00001",
                        "sha256": _sha(os.path.join(d, "data", "validation-00000-of-00001")),
                    }
                ],
            }
        }
    }
    _write(os.path.join(d, "data", "manifest.json"), json.dumps(manifest).encode())
    train = os.path.join(d, "train")
    for step in (10, 20):
        prefix = paths.ckpt_prefix(train, step)
        _write(prefix + ".index", b"index %d" % step)
        _write(prefix + ".data-00000-of-00001", b"weights %d" % step * 50)
        out = os.path.join(d, "eval", "step-%d.json" % step)
        data = predictions.write(paths.eval_predictions(out), _rows())
        record = {
            "step": step,
            "top1": 0.8,
            "top5": 1.0,
            "num_images": 10,
            "checkpoint": {
                "path": "/elsewhere/" + os.path.basename(prefix),
                "sha256": checkpoints.sha256(prefix),
            },
            "predictions": {"sha256": hashlib.sha256(data).hexdigest(), "num_images": 10},
        }
        _write(out, json.dumps(record).encode())
    _write(os.path.join(d, "export", "model.pb"), b"graph" * 100)
    export = {
        "graph": "/elsewhere/export/model.pb",
        "graph_sha256": _sha(os.path.join(d, "export", "model.pb")),
        "checkpoint": {
            "path": "/elsewhere/model.ckpt-20",
            "sha256": checkpoints.sha256(paths.ckpt_prefix(train, 20)),
        },
    }
    _write(os.path.join(d, "export", "export.json"), json.dumps(export).encode())
    _write(os.path.join(d, "report", "report.md"), b"# report\n")
    _write(os.path.join(d, "report", "accuracy.png"), b"\x89PNG....")
    audit = {
        "resolved_config_sha256": config_sha,
        "report_files": {
            n: _sha(os.path.join(d, "report", n)) for n in ("report.md", "accuracy.png")
        },
    }
    _write(os.path.join(d, "report", "audit.json"), json.dumps(audit).encode())
    return d


def _verify(run_dir, caplog):
    caplog.clear()
    code = main(["verify", run_dir])
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    return code, errors


def _exit(run_dir, caplog):
    try:
        return _verify(run_dir, caplog)
    except SystemExit as exc:
        return exc.code, [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


def test_an_untouched_run_moved_elsewhere_verifies(run, tmp_path, caplog):
    moved = str(tmp_path / "moved" / "copy")
    shutil.copytree(run, moved)
    shutil.rmtree(run)
    code, errors = _exit(moved, caplog)
    assert (code, errors) == (0, [])


def _flip(path):
    with open(path, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 1]))


@pytest.mark.parametrize(
    "rel",
    [
        "data/validation-00000-of-00001",
        "train/ckpt/model.ckpt-10.data-00000-of-00001",
        "export/model.pb",
        "eval/step-10.predictions.npz",
        "report/report.md",
    ],
)
def test_a_flipped_byte_fails_naming_that_file_only(run, rel, caplog):
    _flip(os.path.join(run, rel))
    code, errors = _exit(run, caplog)
    assert code == 1
    # a checkpoint has one hash over its files: the mismatch names its prefix
    named = [e[len("MISMATCH ") :].split(":")[0] for e in errors]
    assert named and all(rel.startswith(n) for n in named), errors
    assert all(n == named[0] for n in named), errors


def test_an_edited_top1_fails_naming_the_eval_json(run, caplog):
    path = os.path.join(run, "eval", "step-20.json")
    record = json.load(open(path))
    record["top1"] = 0.9
    _write(path, json.dumps(record).encode())
    code, errors = _exit(run, caplog)
    assert code == 1
    assert errors == ["MISMATCH eval/step-20.json: top1 (predictions) claimed 0.9, found 0.8"]


def test_a_pruned_checkpoint_is_reported_as_pruned_not_as_a_mismatch(run, caplog):
    for path in checkpoints.files_of(paths.ckpt_prefix(os.path.join(run, "train"), 10)):
        os.remove(path)
    caplog.set_level("INFO")
    code, errors = _exit(run, caplog)
    assert (code, errors) == (0, [])
    assert any(
        "pruned by retention" in r.getMessage() and "model.ckpt-10" in r.getMessage()
        for r in caplog.records
    )


def test_an_edited_config_fails_naming_it(run, caplog):
    path = os.path.join(run, "config.resolved.yaml")
    text = open(path).read().replace("seed: ", "seed: 1", 1)
    _write(path, text.encode())
    code, errors = _exit(run, caplog)
    assert code == 1
    assert len(errors) == 1 and errors[0].startswith("MISMATCH config.resolved.yaml:")


def test_a_run_resolved_by_an_older_resnext_verifies(run, caplog):
    """A config key added since the run was resolved (its default fills it when loaded today)
    does not turn the intact file into a mismatch: the claim is over the keys as written."""
    path = os.path.join(run, "config.resolved.yaml")
    data = yaml.safe_load(open(path).read())
    del data["repeat_seeds"], data["max_image_pixels"]  # keys the run's resnext did not have
    digest = keys_sha256(data)
    _write(path, ("%s%s\n%s" % (RESOLVED_HEADER, digest, yaml.safe_dump(data))).encode())
    audit_path = os.path.join(run, "report", "audit.json")
    audit = dict(json.load(open(audit_path)), resolved_config_sha256=digest)
    _write(audit_path, json.dumps(audit).encode())
    assert _exit(run, caplog) == (0, [])
    data["seed"] = 1  # ... and an edit of such a file is still found
    _write(path, ("%s%s\n%s" % (RESOLVED_HEADER, digest, yaml.safe_dump(data))).encode())
    code, errors = _exit(run, caplog)
    assert code == 1 and len(errors) == 1 and errors[0].startswith("MISMATCH config.resolved.yaml:")


def test_a_missing_run_folder_is_one_line_exit_2(tmp_path, caplog):
    code, errors = _exit(str(tmp_path / "nope"), caplog)
    assert code == 2 and len(errors) == 1 and "nope" in errors[0]


def _hashed_bytes(run_dir):
    """Every byte verify hashes in the synthetic run: shard, predictions, graph, report files and
    both checkpoints, once each (model.ckpt-20 is claimed by evaluation and export: read once)."""
    sizes = [
        os.path.getsize(p)
        for p in glob.glob(os.path.join(run_dir, "data", "validation-*"))
        + glob.glob(os.path.join(run_dir, "eval", "*.npz"))
        + [
            os.path.join(run_dir, "export", "model.pb"),
            os.path.join(run_dir, "report", "report.md"),
            os.path.join(run_dir, "report", "accuracy.png"),
        ]
    ]
    for step in (10, 20):
        prefix = paths.ckpt_prefix(os.path.join(run_dir, "train"), step)
        sizes += [os.path.getsize(p) for p in checkpoints.files_of(prefix)]
    return sum(sizes)


def test_progress_counts_the_bytes_hashed_of_the_total(run, caplog, monkeypatch):
    """The log (not a TTY) carries progress lines in MB of the known total, and the final line;
    the sizing pass hashes nothing."""
    monkeypatch.setenv("RESNEXT_PROGRESS", "log")
    seen = []
    real = verify_mod.atomic.sha256_file
    monkeypatch.setattr(
        verify_mod.atomic, "sha256_file", lambda path, *a: seen.append(path) or real(path, *a)
    )
    caplog.set_level("INFO")
    outcome = verify_mod.verify(run, progress_seconds=0.0)
    total = _hashed_bytes(run)
    assert outcome.ok and outcome.bytes_hashed == total
    # shard, 2 predictions, graph, report.md, accuracy.png: once each (checkpoints: their own hash)
    assert len(seen) == len(set(seen)) == 6
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("verify: ")]
    assert lines[-1].startswith("verify: done, ")
    shown = [
        re.match(r"verify: (\d+)/%d kB \((\d+\.\d)%%\)" % int(total / 1e3), line)
        for line in lines[:-1]
    ]
    assert shown and all(shown), lines
    percent = [float(m.group(2)) for m in shown]
    assert percent == sorted(percent) and percent[-1] == 100.0 and percent[0] < 100.0


def test_out_writes_the_outcome_atomically_for_the_workflow(run, tmp_path, caplog):
    out = str(tmp_path / "verify.json")
    assert _exit_with(["verify", run, "--out", out]) == 0
    record = json.load(open(out))
    assert record["ok"] is True and record["mismatches"] == [] and record["run_dir"] == run
    assert record["claims_checked"] > 5 and record["bytes_hashed"] == _hashed_bytes(run)
    _flip(os.path.join(run, "export", "model.pb"))
    assert _exit_with(["verify", run, "--out", out]) == 1
    record = json.load(open(out))
    assert record["ok"] is False
    assert [m["path"] for m in record["mismatches"]] == ["export/model.pb"]


def _exit_with(argv):
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code
