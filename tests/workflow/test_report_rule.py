"""The report rule, the `benchmark` target and `snakemake --report` on a finished tiny run.

Fast: the finished run is a fake results tree (tests/report/report_fakes.py) written for the tiny
workflow config, with placeholder checkpoints and graph, marked up to date with `snakemake --touch`;
the report rule, the benchmark dry run and `snakemake --report` then run for real. The real
benchmark job (TensorFlow) is the one slow test.
"""

import json
import os
import re

import pytest
import yaml

from support.paths import ROOT, TINY_WORKFLOW
from support.workflow import planned_jobs, snakemake, work_folder
from report.report_fakes import (
    REPORT_FILES,
    write_benchmark,
    write_results,
)  # tests/report (tests/ is on sys.path)
from resnext import paths
from resnext.config import load_config

CONFIG = ("--configfile", "tiny.yaml")


def _placeholders(cfg):
    """Files of the stages before the report that the fake tree lacks: demo marker, checkpoints,
    graph."""
    files = [
        paths.demo_marker(cfg.source_path),
        paths.export_graph(paths.export_dir(cfg.run_dir), cfg.arch),
    ]
    files += [paths.ckpt_index(cfg.train_dir, s) for s in cfg.block_steps]
    for path in files:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").close()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(working folder, Config) of a finished tiny run without report and without benchmark."""
    work = work_folder(tmp_path_factory.mktemp("wfreport"))
    with open(os.path.join(ROOT, "config", "config.yaml"), encoding="utf-8") as f:
        values = dict(
            yaml.safe_load(f), **TINY_WORKFLOW
        )  # what Snakemake merges: configfile, then tiny.yaml
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        cfg = write_results(load_config([], values=values))
        for name in os.listdir(os.path.join(cfg.run_dir, "benchmark")):
            os.remove(os.path.join(cfg.run_dir, "benchmark", name))
        _placeholders(cfg)
    evals = [os.path.join(cfg.run_dir, "eval", "step-%d.json" % s) for s in cfg.block_steps]
    snakemake(work, "--touch", os.path.join(cfg.run_dir, "export", "export.json"), *evals, *CONFIG)
    return work, cfg


def test_all_runs_only_the_report_which_writes_every_file(finished):
    work, cfg = finished
    assert planned_jobs(snakemake(work, "all", "-n", *CONFIG)) == {"report": 1, "all": 1}
    snakemake(work, "all", *CONFIG)
    folder = work / cfg.run_dir / "report"
    for name in REPORT_FILES:
        assert (folder / name).stat().st_size > 0, name
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 4
    report_md = (folder / "report.md").read_text(encoding="utf-8")
    assert "benchmark/\\*.json: missing" in report_md  # Markdown-escaped (resnext.report.render)


def test_benchmark_target_runs_resnext_benchmark_on_the_run_config(finished):
    work, cfg = finished
    assert "benchmark" not in planned_jobs(
        snakemake(work, "all", "-n", *CONFIG)
    )  # `all` never benchmarks
    run = snakemake(work, "benchmark", "-n", "-p", *CONFIG)
    assert planned_jobs(run) == {"benchmark": 1}
    out = "results/tiny/benchmark/train-synthetic-1x8.json"
    assert (
        "resnext benchmark --config results/tiny/config.resolved.yaml --mode train "
        "--data synthetic --out %s > results/tiny/logs/benchmark.log 2>&1" % out
    ) in run.stdout


def test_a_benchmark_result_reruns_the_report_which_shows_it(finished):
    work, cfg = finished
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        write_benchmark(cfg, per_device=900.0)
    assert planned_jobs(snakemake(work, "all", "-n", *CONFIG)) == {"report": 1, "all": 1}
    snakemake(work, "all", *CONFIG)
    folder = work / cfg.run_dir / "report"
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert (
        "| train-synthetic-1x8.json | train / synthetic | 1 x 8 | cpu / fp32 | resnext_tiny @ 32 |"
        in md
    )
    assert [b["file"] for b in json.loads((folder / "audit.json").read_text())["benchmarks"]] == [
        "train-synthetic-1x8.json"
    ]


def test_snakemake_report_holds_our_report_plots_and_captions(finished):
    work, _ = finished
    run = snakemake(work, "--report", "snakemake-report.html", *CONFIG)
    assert "Report created" in run.stdout
    page = (work / "snakemake-report.html").read_text(encoding="utf-8")
    for name in REPORT_FILES + ("train-synthetic-1x8.json",):
        assert name in page, name
    assert "benchmark reproduction, run <tt class" in page  # workflow/report/workflow.rst, rendered
    assert (
        "The audit report of run" in page and "Training loss (label-smoothed cross-entropy)" in page
    )


def test_verify_target_runs_resnext_verify_and_fails_on_the_fake_hashes(finished):
    """`snakemake verify` is its own target (never in `all`) running `resnext verify` on the run;
    the fake tree's hashes are invented, so the real job fails, its log naming the mismatches,
    and keeps no verify.json (tests/test_verify.py checks a run whose claims hold)."""
    work, cfg = finished
    assert "verify_run" not in planned_jobs(snakemake(work, "all", "-n", *CONFIG))
    snakemake(work, "all", *CONFIG)
    run = snakemake(work, "verify", "-n", "-p", *CONFIG)
    assert planned_jobs(run) == {"verify_run": 1, "verify": 1}
    assert (
        "resnext verify results/tiny --out results/tiny/verify.json"
        " > results/tiny/logs/verify.log 2>&1"
    ) in run.stdout
    run = snakemake(work, "verify", *CONFIG, check=False)
    assert run.returncode != 0
    log = (work / cfg.run_dir / "logs" / "verify.log").read_text(encoding="utf-8")
    assert "MISMATCH export/%s.pb: graph sha256" % cfg.arch in log
    assert "MISMATCH train/ckpt/model.ckpt-%d: checkpoint sha256" % cfg.block_steps[0] in log
    assert re.search(r"^.*verify: done, ", log, flags=re.M)
    assert not (work / cfg.run_dir / "verify.json").exists()


@pytest.mark.slow
def test_real_benchmark_job(finished):
    work, cfg = finished
    snakemake(work, "benchmark", "--forcerun", "benchmark", *CONFIG)
    with open(
        str(work / cfg.run_dir / "benchmark" / "train-synthetic-1x8.json"), encoding="utf-8"
    ) as f:
        result = json.load(f)
    assert (
        result["config_sha256"] == cfg.sha256()
        and result["mode"] == "train"
        and result["data"] == "synthetic"
    )
    assert (
        result["images_per_sec_mean"] > 0 and result["steps"] == 20 and result["warmup_steps"] == 5
    )
