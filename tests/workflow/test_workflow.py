"""The Snakemake workflow end to end on a tiny config: all, nothing left to do, incremental
evaluation, the `evaluate` target never trains, lint, and a bad config failing before any job."""

import glob
import json
import os

import pytest
import yaml

from support.paths import ROOT
from support.workflow import planned_jobs, snakemake, work_folder


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A working folder with the project's config/ and reports/, and a tiny config over the demo."""
    work = work_folder(tmp_path_factory.mktemp("wf"))
    snakemake(work, "all", "--configfile", "tiny.yaml")
    return work


def test_all_writes_every_stage(workdir):
    run = workdir / "results" / "tiny"
    assert sorted(os.path.basename(p) for p in glob.glob(str(run / "eval" / "*.json"))) == [
        "step-4.json",
        "step-8.json",
    ]
    assert json.load(open(run / "eval" / "step-8.json"))["num_images"] == 359
    assert json.load(open(run / "eval" / "step-8.json"))["predictions"]["num_images"] == 359
    assert (run / "eval" / "step-8.predictions.npz").stat().st_size > 0
    export = json.load(open(run / "export" / "export.json"))
    assert export["max_abs_diff_logits"] < 1e-4
    for name in ("report.md", "eval_table.txt", "audit.json", "report.html", "mllog.txt"):
        assert (run / "report" / name).stat().st_size > 0
    assert (run / "train" / "block-2.json").exists() and (
        run / "train" / "logs" / "rank-0.log"
    ).exists()
    audit = json.load(open(run / "report" / "audit.json"))
    assert audit["config_sha256"] == json.load(open(run / "eval" / "step-8.json"))["config_sha256"]


def test_nothing_left_to_do_afterwards(workdir):
    run = snakemake(workdir, "all", "-n", "--configfile", "tiny.yaml")
    assert "Nothing to be done" in run.stdout


def test_a_missing_result_plans_exactly_one_evaluation(workdir):
    os.remove(str(workdir / "results" / "tiny" / "eval" / "step-4.json"))
    jobs = planned_jobs(snakemake(workdir, "evaluate", "-n", "--configfile", "tiny.yaml"))
    assert jobs.get("evaluate_checkpoint") == 1 and "train_block" not in jobs
    snakemake(workdir, "evaluate", "--configfile", "tiny.yaml")
    assert (workdir / "results" / "tiny" / "eval" / "step-4.json").exists()


def test_evaluate_never_trains_when_checkpoints_are_missing(workdir, tmp_path):
    cfg = dict(yaml.safe_load((workdir / "tiny.yaml").read_text()), run_name="fresh")
    (workdir / "fresh.yaml").write_text(yaml.safe_dump(cfg))
    run = snakemake(workdir, "evaluate", "-n", "--configfile", "fresh.yaml")
    jobs = planned_jobs(run)
    assert "train_block" not in jobs and "evaluate_checkpoint" not in jobs


def test_lint_is_clean():
    run = snakemake(ROOT, "--lint")
    assert "Congratulations, your workflow is in a good condition" in run.stdout


def test_bad_config_fails_before_any_job(workdir):
    (workdir / "bad.yaml").write_text("run_name: bad\nbatch_sise: 8\n")
    run = snakemake(workdir, "all", "-n", "--configfile", "tiny.yaml", "bad.yaml", check=False)
    assert run.returncode != 0 and "batch_sise" in run.stdout
    assert not (workdir / "results" / "bad").exists()
