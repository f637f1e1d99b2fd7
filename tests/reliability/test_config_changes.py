"""A config edited after a finished run (issue 12 item 1), through the real workflow on the tiny
config: one `snakemake all` is shared, each case works on a copy of its folder (mtimes and
Snakemake's metadata kept).

At 58e2a1a any edited key (even rank_timeout_s) reran resolve_config and then train_block, whose
output was the checkpoint's .index: Snakemake deleted model.ckpt-4.index before the job, the job's
`resnext train` found model.ckpt-8 and exited 0 without writing it, and the run ended in
MissingOutputException with a checkpoint lost. Now:
- a key that does not change what training computes reruns only what it affects (an operations
  key: the report alone), and every checkpoint and result stays byte-identical;
- learning_rate_maximum changed: refused when the DAG is built, before any job, naming the key;
- num_epochs raised: only the new block trains, every old checkpoint and result stays;
- after each case `snakemake -n all` plans nothing.
"""

import os
import shutil

import pytest
import yaml

import rel_support as S
from support.paths import TINY_WORKFLOW
from support.workflow import planned_jobs, snakemake, work_folder

pytestmark = pytest.mark.slow

STEPS_PER_EPOCH = 1438 // 8  # the tiny workflow's 1438 train images at batch 8
# two blocks (steps 4 and 8) set by num_epochs, so that raising it extends the run
BY_EPOCHS = dict(
    TINY_WORKFLOW,
    max_train_steps=None,
    num_epochs=8 / STEPS_PER_EPOCH,
)


def hashes(folder, skip=()):
    """{relative path: sha256} of every file under folder, but those under a `skip` prefix."""
    return {
        p: S.file_sha256(os.path.join(str(folder), p))
        for p in S.listing(folder)
        if not p.startswith(tuple(skip))
    }


def run_dir(work):
    return work / "results" / "tiny"


def checkpoints_of(work):
    return hashes(run_dir(work) / "train" / "ckpt")


def results_of(work):
    """Every checkpoint, eval result and export file, with their sha256."""
    run = run_dir(work)
    return {name: hashes(run / name) for name in ("train/ckpt", "eval", "export")}


def outside_the_run(work):
    """What a case may not touch: every file of the working folder but the run's, Snakemake's and
    the config the case edits."""
    return hashes(work, skip=(".snakemake", os.path.join("results", "tiny"), "tiny.yaml"))


def with_config(work, **changes):
    (work / "tiny.yaml").write_text(yaml.safe_dump(dict(BY_EPOCHS, **changes)))


def dry_run(work):
    return snakemake(work, "-n", "all", "--configfile", "tiny.yaml", check=False)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    work = work_folder(tmp_path_factory.mktemp("finished"), BY_EPOCHS)
    snakemake(work, "all", "--configfile", "tiny.yaml")
    assert sorted(checkpoints_of(work)) and dry_run(work).stdout.count("Nothing to be done") == 1
    return work


@pytest.fixture
def copy(finished, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(str(finished), str(work), symlinks=True)  # copy2: mtimes kept
    return work


def test_an_operations_key_reruns_only_the_report(copy):
    before, outside = results_of(copy), outside_the_run(copy)
    with_config(copy, rank_timeout_s=1234, keep_checkpoint_max=0)
    plan = dry_run(copy)
    assert plan.returncode == 0 and planned_jobs(plan) == {
        "resolve_config": 1,
        "report": 1,
        "all": 1,
    }, plan.stdout
    snakemake(copy, "all", "--configfile", "tiny.yaml")
    assert results_of(copy) == before  # every checkpoint, result and the export byte-identical
    assert outside_the_run(copy) == outside
    assert "Nothing to be done" in dry_run(copy).stdout


def test_an_evaluation_key_reruns_the_evaluations_and_what_reads_them(copy):
    with_config(copy, eval_batch_size=60)  # affects evaluation and export, not training
    plan = dry_run(copy)
    jobs = planned_jobs(plan)
    assert jobs == {
        "resolve_config": 1,
        "stage_settings": 2,
        "evaluate_checkpoint": 2,
        "export": 1,
        "report": 1,
        "all": 1,
    }
    assert "settings/training.json" not in plan.stdout


def test_a_training_key_is_refused_before_any_job_naming_it(copy):
    before = results_of(copy)
    with_config(copy, learning_rate_maximum=0.1)
    everything = hashes(copy, skip=(".snakemake",))
    proc = snakemake(copy, "all", "--configfile", "tiny.yaml", check=False)
    assert proc.returncode != 0
    assert "learning_rate_maximum 0.05 -> 0.1" in proc.stdout and "accept_changes" in proc.stdout
    assert "Nothing was run" in proc.stdout
    # no job ran: not even resolve_config (the resolved config and every other file are unchanged)
    assert hashes(copy, skip=(".snakemake",)) == everything
    assert results_of(copy) == before
    plan = dry_run(copy)
    assert plan.returncode != 0 and "learning_rate_maximum" in plan.stdout  # still refused
    with_config(copy)  # undone: nothing to do
    assert "Nothing to be done" in dry_run(copy).stdout


def test_raising_num_epochs_trains_only_the_new_block(copy):
    before, outside = results_of(copy), outside_the_run(copy)
    with_config(copy, num_epochs=12 / STEPS_PER_EPOCH)
    plan = dry_run(copy)
    assert planned_jobs(plan) == {
        "resolve_config": 1,
        "train_block": 1,
        "evaluate_checkpoint": 1,
        "export": 1,
        "report": 1,
        "all": 1,
    }, plan.stdout
    assert "train/done/step-12.json" in plan.stdout and "train/done/step-4.json" not in plan.stdout
    snakemake(copy, "all", "--configfile", "tiny.yaml")
    after = results_of(copy)
    for name in ("train/ckpt", "eval"):  # every old checkpoint and result kept, byte-identical
        kept = {p: h for p, h in before[name].items() if p != "checkpoint"}  # TF's newest-pointer
        assert {p: h for p, h in after[name].items() if p in kept} == kept
    assert sorted(p for p in after["train/ckpt"] if p.endswith(".index")) == [
        "model.ckpt-12.index",
        "model.ckpt-4.index",
        "model.ckpt-8.index",
    ]
    assert "step-12.json" in after["eval"]
    recipe = S.read_json(run_dir(copy) / "train" / "recipe.json")
    assert [(c["key"], c["step"], c["how"]) for c in recipe["changes"]] == [
        ("num_epochs", 8, "extended")
    ]
    assert outside_the_run(copy) == outside
    assert "Nothing to be done" in dry_run(copy).stdout


def test_a_deleted_done_marker_retrains_nothing(copy):
    """A block rerun by Snakemake (its output, the marker, deleted first) keeps its checkpoint:
    the job starts no rank and writes the marker again. (`all` alone would not rerun it: what
    depends on it is up to date.)"""
    before = results_of(copy)
    marker = os.path.join("results", "tiny", "train", "done", "step-4.json")
    os.remove(str(copy / marker))
    snakemake(copy, marker, "--configfile", "tiny.yaml")
    assert results_of(copy) == before
    log = (run_dir(copy) / "logs" / "train-4.log").read_text()
    assert "already covers the block ending at step 4: no rank started" in log
    assert "Nothing to be done" in dry_run(copy).stdout
