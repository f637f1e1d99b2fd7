"""Checkpoint retention (resnext.retention): keep the newest keep_checkpoint_max checkpoints, never
delete the newest nor one without an evaluation result of it, index first; and a pruned run stays
complete for Snakemake (no retraining, no re-evaluation)."""

import json
import os
import time

import pytest

from resnext import checkpoints, paths, retention

import rel_support as S
from resnext.config import load_config
from support.paths import DEMO_CONFIG, TINY, TINY_WORKFLOW
from support.workflow import planned_jobs, snakemake, work_folder


def _fake_checkpoint(train_dir, step, payload=None):
    """Files shaped like a Saver checkpoint (data shard + index); contents are arbitrary bytes."""
    prefix = paths.ckpt_prefix(str(train_dir), step)
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    with open(prefix + ".data-00000-of-00001", "wb") as f:
        f.write(payload or (b"data-%d" % step) * 100)
    with open(prefix + ".index", "wb") as f:
        f.write(b"index-%d" % step)
    return prefix


def _fake_eval(cfg, step, sha=None):
    prefix = paths.ckpt_prefix(cfg.train_dir, step)
    path = paths.eval_json(cfg.run_dir, step)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(
            {
                "step": step,
                "top1": 0.5,
                "checkpoint": {"path": prefix, "sha256": sha or checkpoints.sha256(prefix)},
            },
            f,
        )


@pytest.fixture
def run(tmp_path):
    def make(keep, steps=(4, 8, 12, 16), evaluated=(4, 8, 12, 16)):
        cfg = S.tiny_config(tmp_path / "data", tmp_path / "results", keep_checkpoint_max=keep)
        for step in steps:
            _fake_checkpoint(cfg.train_dir, step)
        for step in evaluated:
            _fake_eval(cfg, step)
        return cfg

    return make


def test_keep_zero_keeps_everything(run):
    cfg = run(0)
    assert retention.prune(cfg) == []
    assert checkpoints.complete_steps(cfg.train_dir) == [4, 8, 12, 16]


def test_keeps_the_newest_n_of_the_evaluated_ones(run):
    cfg = run(2)
    assert retention.prune(cfg) == [4, 8]
    assert checkpoints.complete_steps(cfg.train_dir) == [12, 16]
    assert S.listing(paths.ckpt_dir(cfg.train_dir)) == [
        "model.ckpt-12.data-00000-of-00001",
        "model.ckpt-12.index",
        "model.ckpt-16.data-00000-of-00001",
        "model.ckpt-16.index",
    ]
    assert retention.prune(cfg) == []  # idempotent


def test_never_deletes_a_checkpoint_without_an_evaluation_result(run):
    cfg = run(1, evaluated=(8, 16))  # 4 and 12 not evaluated yet
    assert retention.prune(cfg) == [8]
    assert checkpoints.complete_steps(cfg.train_dir) == [4, 12, 16]
    _, kept = retention.plan(cfg)
    assert kept[4].startswith("no evaluation result") and kept[12].startswith(
        "no evaluation result"
    )


def test_never_deletes_the_newest_even_if_everything_is_evaluated(run):
    cfg = run(1)
    retention.prune(cfg)
    assert checkpoints.complete_steps(cfg.train_dir) == [16]
    assert retention.plan(cfg) == ([], {16: "newest"})


def test_the_newest_without_a_result_is_kept_and_counts_among_the_n(run):
    cfg = run(2, evaluated=(4, 8, 12))  # the newest, 16, has no result
    assert retention.prune(cfg) == [4, 8]
    assert checkpoints.complete_steps(cfg.train_dir) == [12, 16]


def test_a_result_of_another_checkpoint_at_that_step_does_not_count(run):
    """eval/step-4.json left from an earlier attempt (other weights, other sha256):
    4 is not evaluated."""
    cfg = run(1, evaluated=(8, 12))
    _fake_eval(cfg, 4, sha="0" * 64)
    with open(paths.eval_json(cfg.run_dir, 12), "w") as f:
        f.write('{"step": 12, "top1"')  # torn (a writer killed mid-file): not a result
    assert retention.prune(cfg) == [8]
    assert checkpoints.complete_steps(cfg.train_dir) == [4, 12, 16]


def test_a_checkpoint_goes_index_first(run, monkeypatch):
    """Killed in the middle of a deletion: what is left never counts as a checkpoint."""
    cfg = run(1)
    removed = []

    real_remove = retention._remove

    def dying_remove(path):
        removed.append(os.path.basename(path))
        if len(removed) == 2:
            raise KeyboardInterrupt("killed")
        real_remove(path)

    monkeypatch.setattr(retention, "_remove", dying_remove)
    with pytest.raises(KeyboardInterrupt):
        retention.prune(cfg)
    assert removed == ["model.ckpt-4.index", "model.ckpt-4.data-00000-of-00001"]
    assert checkpoints.complete_steps(cfg.train_dir) == [8, 12, 16]
    monkeypatch.undo()
    # the next prune finishes the job, leftover data file included
    assert retention.prune(cfg) == [8, 12]
    assert checkpoints.complete_steps(cfg.train_dir) == [16]
    assert S.listing(paths.ckpt_dir(cfg.train_dir)) == [
        "model.ckpt-16.data-00000-of-00001",
        "model.ckpt-16.index",
    ]


def test_leftovers_of_killed_saves_go_but_a_save_in_flight_stays(run):
    cfg = run(0, steps=(4, 8), evaluated=())
    ckpt = paths.ckpt_dir(cfg.train_dir)
    leftovers = [
        "model.ckpt-6.data-00000-of-00001",  # killed save of an older step: never completes
        "model.ckpt-8.data-00000-of-00001.tempstate123",  # TensorFlow temp of a killed save
        "model.ckpt-4.index.tempstate9",
    ]
    in_flight = [
        "model.ckpt-12.data-00000-of-00001.tempstate77",
        "model.ckpt-12.data-00000-of-00001",
    ]
    for name in leftovers + in_flight:
        open(os.path.join(ckpt, name), "wb").close()
    assert retention.leftovers(cfg.train_dir) == sorted(os.path.join(ckpt, n) for n in leftovers)
    assert retention.prune(cfg) == []
    assert sorted(
        set(S.listing(ckpt))
        - {"model.ckpt-%d.%s" % (s, e) for s in (4, 8) for e in ("index", "data-00000-of-00001")}
    ) == sorted(in_flight)


def test_no_checkpoints_is_fine(tmp_path):
    cfg = S.tiny_config(tmp_path / "data", tmp_path / "results", keep_checkpoint_max=1)
    assert retention.prune(cfg) == [] and retention.leftovers(cfg.train_dir) == []


def test_real_checkpoints_of_a_training_run(tiny_cfg):
    """Two real blocks and a real evaluation: the evaluated older checkpoint goes,
    the rest restores."""
    from resnext.backends import get_backend
    from resnext.evaluate import evaluate
    from resnext.train import loop

    cfg = tiny_cfg(keep_checkpoint_max=1)
    for step in cfg.block_steps:
        loop.train_block(cfg, step, get_backend(cfg, 0, 1))
    assert retention.prune(cfg) == []  # 4 is not evaluated: kept
    evaluate(cfg, paths.ckpt_prefix(cfg.train_dir, 4))
    assert retention.prune(cfg) == [4]
    assert checkpoints.complete_steps(cfg.train_dir) == [8]
    assert S.checkpoint_tensors(paths.ckpt_prefix(cfg.train_dir, 8))  # still whole
    # a rerun of the finished run trains nothing and needs no deleted checkpoint
    assert loop.train_block(cfg, 8, get_backend(cfg, 0, 1)) is None
    assert checkpoints.complete_steps(cfg.train_dir) == [8]


def _fake_workflow_run(work):
    """A finished tiny run on disk (files only, oldest first) for Snakemake dry runs."""
    cfg = load_config([DEMO_CONFIG], values=dict(TINY_WORKFLOW, data_url="", keep_checkpoint_max=1))
    values = {
        k: v
        for k, v in cfg.to_dict().items()
        if k in TINY
        or k
        in ("results_dir", "run_name", "source_dir", "demo_val_fraction", "keep_checkpoint_max")
    }
    work_folder(work, values)
    run = work / "results" / "tiny"
    files = ["config.resolved.yaml", "source/demo.json", "data/manifest.json"]
    for step in (4, 8):
        files += [
            "train/ckpt/model.ckpt-%d.data-00000-of-00001" % step,
            "train/ckpt/model.ckpt-%d.index" % step,
            "train/done/step-%d.json" % step,
        ]  # train_block's output (issue 12 item 1)
    files += [
        "eval/step-4.json",
        "eval/step-8.json",
        "export/resnext_tiny.pb",
        "export/export.json",
        "report/report.md",
        "report/eval_table.txt",
        "report/audit.json",
        "ro-crate-metadata.json",
    ]
    stamp = time.time() - 1000
    for k, rel in enumerate(files):
        path = run / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        os.utime(str(path), (stamp + k, stamp + k))
    return run


def test_snakemake_needs_nothing_back_after_pruning(tmp_path):
    """Snakemake does not recreate a missing intermediate file when what depends on it is up to
    date: a pruned checkpoint plans no retraining and no re-evaluation, in `all` and `evaluate`."""
    run = _fake_workflow_run(tmp_path)
    for name in ("model.ckpt-4.index", "model.ckpt-4.data-00000-of-00001"):
        os.remove(str(run / "train" / "ckpt" / name))  # what prune() does once step-4.json exists
    for target in ("all", "evaluate"):
        out = snakemake(tmp_path, target, "-n", "--configfile", "tiny.yaml").stdout
        assert "Nothing to be done" in out, out[-2000:]
    # a newer result makes the report rerun, and still nothing upstream of the evaluations runs
    os.utime(str(run / "eval" / "step-8.json"))
    plan = snakemake(tmp_path, "all", "-n", "--configfile", "tiny.yaml")
    jobs, out = planned_jobs(plan), plan.stdout
    assert (
        jobs.get("report") == 1 and "train_block" not in jobs and "evaluate_checkpoint" not in jobs
    ), out[-2000:]


def test_training_applies_retention_after_each_block(tiny_cfg):
    from resnext.backends import get_backend
    from resnext.evaluate import evaluate
    from resnext.train import loop

    cfg = tiny_cfg(keep_checkpoint_max=1, max_train_steps=12)
    assert cfg.block_steps == [4, 8, 12]
    loop.train_block(cfg, 4, get_backend(cfg, 0, 1))
    loop.train_block(cfg, 8, get_backend(cfg, 0, 1))
    assert checkpoints.complete_steps(cfg.train_dir) == [4, 8]  # 4 has no result yet: kept
    evaluate(cfg, paths.ckpt_prefix(cfg.train_dir, 4))
    loop.train_block(cfg, 12, get_backend(cfg, 0, 1))
    assert checkpoints.complete_steps(cfg.train_dir) == [8, 12]  # 4 evaluated: gone; 8 not: kept


def test_retention_runs_in_the_ascend_container():
    """rank 0 calls it inside the TF 1.15 / Python 3.7 image: Python 3.7 syntax, no TensorFlow."""
    import shutil
    import subprocess
    import sys

    path = retention.__file__
    assert "tensorflow" not in open(path).read() and "resnext.compat" not in open(path).read()
    vermin = shutil.which("vermin") or os.path.join(os.path.dirname(sys.executable), "vermin")
    if not os.path.exists(vermin):
        pytest.skip("vermin not installed")
    out = subprocess.run(
        [vermin, "--target=3.7-", "--no-tips", "--violations", "--eval-annotations", path],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert out.returncode == 0, out.stdout
