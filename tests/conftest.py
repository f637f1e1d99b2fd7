"""Shared fixtures: tiny configs of the real builder and data, written to a temp run folder."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from resnext.config import load_config  # noqa: E402

DEMO_CONFIG = os.path.join(ROOT, "config", "config.yaml")

TINY = {
    "arch": "resnext_tiny", "image_size": 32, "num_classes": 10, "batch_size": 8, "eval_batch_size": 16,
    "iterations_per_loop": 2, "shuffle_buffer": 64, "train_shards": 2, "validation_shards": 2,
    "warmup_epochs": 0.5, "num_epochs": 2, "checkpoint_every_epochs": 1, "threads_per_rank": 1,
}


@pytest.fixture
def tiny_cfg(tmp_path):
    """A config of the tiny variant whose results go to tmp_path (data still to be written)."""
    values = dict(TINY, results_dir=str(tmp_path / "results"), run_name="tiny")
    return load_config([DEMO_CONFIG], values=values)
