"""The report's throughput benchmark section, fed by <run>/benchmark/*.json
(resnext benchmark's JSON)."""

import json
import os

import pytest

from report_fakes import DEMO, REFERENCE, write_benchmark
from resnext.config import load_config
from resnext.report import benchmarks, verdict


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def reference():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return verdict.load_reference(os.path.join(root, "reports", "reference.yaml"))[0]


def _record(tmp_path, values, **changes):
    cfg = load_config([], values=dict(values, results_dir=str(tmp_path)))
    return write_benchmark(cfg, per_device=750.0, **changes)


def test_reference_recipe_benchmark_is_compared_per_device(tmp_path, reference):
    rec = _record(tmp_path, REFERENCE)
    assert benchmarks.blockers(rec, reference) == []
    assert benchmarks.per_device(rec) == pytest.approx(750.0)
    assert benchmarks.ratio(rec, reference) == pytest.approx(750.0 / 741.5)


def test_other_recipes_and_inference_are_not_compared(tmp_path, reference):
    assert benchmarks.blockers(_record(tmp_path, REFERENCE, batch_size_per_rank=16), reference) == [
        "batch_size is 16, reference 32"
    ]
    assert benchmarks.blockers(_record(tmp_path, REFERENCE, mode="inference"), reference) == [
        "mode is 'inference', reference 'train'"
    ]
    demo = _record(tmp_path, DEMO)
    assert benchmarks.ratio(demo, reference) is None
    assert "backend is 'cpu', reference 'npu'" in benchmarks.blockers(demo, reference)


def test_demo_report_shows_the_benchmark(demo_report):
    cfg, written = demo_report
    md = _read(written["report.md"])
    assert "### Throughput benchmark (resnext benchmark)" in md
    row = next(
        line
        for line in md.splitlines()
        if line.startswith("| train-synthetic-1x32.json | train / synthetic")
    )
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[benchmarks.HEADERS.index("images/s mean ± MAD")] == "40.8 ± 0.4"
    assert cells[benchmarks.HEADERS.index("steps (warm-up)")] == "20 (5)"
    assert cells[-1] == "not comparable"
    assert (
        "| train-synthetic-1x32.json | 2026-11-29 09:00:00 | this run's config | backend is 'cpu'"
        in md
    )
    audit = json.loads(_read(written["audit"]))
    [bench] = audit["benchmarks"]
    assert bench["file"] == "train-synthetic-1x32.json" and bench["run_config"] is True
    assert (
        bench["images_per_sec_mean"] == pytest.approx(40.8) and bench["ratio_to_reference"] is None
    )
    assert bench["step_time_ms_p99"] is not None and len(bench["sha256"]) == 64


def test_benchmark_of_another_config_is_marked(tmp_path):
    from report_fakes import write_tree
    from resnext.report import build_report

    cfg = write_tree(tmp_path)
    write_benchmark(cfg, per_device=50.0, batch_size_per_rank=16, config_sha256="f" * 64)
    written = build_report(cfg)
    md = _read(written["report.md"])
    assert "| train-synthetic-1x16.json |" in md and "another config (sha256 %s)" % ("f" * 64) in md
    audit = json.loads(_read(written["audit"]))
    assert [b["run_config"] for b in audit["benchmarks"]] == [False, True]
    assert (
        audit["consistency_problems"] == []
    )  # a benchmark of another config is legitimate, not a problem
