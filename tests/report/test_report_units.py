"""Unit tests of the report helpers: time formats, throughput statistics, recipe comparison."""

import os
import subprocess
import sys

import pytest

from report_fakes import DEMO
from resnext.config import load_config
from resnext.report import fmt, tables, verdict


def test_utc_text_converts_offsets_and_rejects_garbage():
    assert fmt.utc_text("2026-11-29T07:00:00Z") == "2026-11-29 07:00:00"
    assert fmt.utc_text("2026-11-29T09:30:05.75+02:00") == "2026-11-29 07:30:05"
    assert fmt.utc_text("2026-11-29T07:00:00") == "2026-11-29 07:00:00"  # naive = UTC
    assert fmt.utc_text("yesterday") == "unknown" and fmt.utc_text(None) == "unknown"
    assert fmt.utc_ms("1970-01-01T00:00:01Z") == 1000


def test_block_throughput_excludes_warmup_loops():
    block = {
        "block": 1,
        "start_step": 0,
        "end_step": 100,
        "rank_size": 4,
        "images_per_sec": 90.0,
        "images_per_sec_loops": [10.0, 100.0, 110.0, 90.0],
        "warmup_loops_excluded": 1,
        "wall_time_s": 5.0,
    }
    stat = tables.block_throughput(block)
    assert (
        stat.loops_used == 3
        and stat.mean == pytest.approx(100.0)
        and stat.jitter == pytest.approx(10.0)
    )
    assert stat.per_device == pytest.approx(25.0) and stat.jitter_percent == pytest.approx(10.0)
    only_warmup = dict(block, images_per_sec_loops=[10.0])
    assert tables.block_throughput(only_warmup).mean == 90.0  # falls back to the whole-block figure


def test_time_to_target_prorates_the_block():
    blocks = [
        {"start_step": 0, "end_step": 100, "wall_time_s": 10.0},
        {"start_step": 100, "end_step": 200, "wall_time_s": 20.0},
    ]
    evals = [{"step": 150, "epoch": 1.5, "top1": 0.5}, {"step": 200, "epoch": 2.0, "top1": 0.8}]
    hit = tables.time_to_target(evals, blocks, 50.0)
    assert hit["step"] == 150 and hit["training_time_s"] == pytest.approx(20.0)
    assert tables.time_to_target(evals, blocks, 80.1) is None


def test_recipe_differences_accept_lists_and_derived_keys(tmp_path):
    cfg = load_config([], values=dict(DEMO, results_dir=str(tmp_path)))
    recipe = {
        "global_batch": 32,
        "precision_mode": ["fp16", "fp32"],
        "image_size": 224,
        "max_train_steps": None,
    }
    assert verdict.recipe_differences(cfg, recipe) == ["image_size is 32, reference 224"]


def test_report_package_does_not_import_tensorflow():
    code = (
        "import sys, resnext.report, resnext.report.mllog, resnext.report.plots; "
        "sys.exit(1 if any(m == 'tensorflow' or m.startswith('tensorflow.') "
        "for m in sys.modules) else 0)"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0
