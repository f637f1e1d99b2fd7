"""Shared fixtures: a small converted digits dataset and tiny configs of the real builder."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from resnext.config import load_config  # noqa: E402

DEMO_CONFIG = os.path.join(ROOT, "config", "config.yaml")
CLASSES = 10
TRAIN_PER_CLASS = 12
VAL_PER_CLASS = 4

# resnext_tiny at 32x32 on 120 real digits: 15 steps per epoch at batch 8, blocks of 4 steps
TINY = {
    "arch": "resnext_tiny", "image_size": 32, "num_classes": CLASSES, "batch_size": 8, "eval_batch_size": 16,
    "iterations_per_loop": 2, "shuffle_buffer": 64, "warmup_epochs": 0.2, "max_train_steps": 8,
    "checkpoint_every_steps": 4, "threads_per_rank": 1, "crop_area_min": 0.5, "random_flip": False,
    "num_train_images": CLASSES * TRAIN_PER_CLASS, "train_shards": 2, "validation_shards": 2,
    "convert_workers": 1, "learning_rate_maximum": 0.05,
}


@pytest.fixture(scope="session")
def digits_data(tmp_path_factory):
    """Folder of TFRecord shards + manifest: 10 digit classes, 120 train and 40 validation images, 32x32."""
    from resnext.data import convert
    from support.trees import write_tree
    root = tmp_path_factory.mktemp("digits")
    source = write_tree(root / "source", TRAIN_PER_CLASS, (VAL_PER_CLASS,) * CLASSES, 32)
    cfg = load_config([DEMO_CONFIG], values=dict(TINY, source_dir=source, data_url=str(root / "data"),
                                                 results_dir=str(root / "results")))
    convert.convert(cfg)
    return str(root / "data")


@pytest.fixture
def tiny_cfg(tmp_path, digits_data):
    """Factory: a config of the tiny variant on digits_data, results under tmp_path; kwargs override keys."""
    def make(**changes):
        values = dict(TINY, data_url=digits_data, results_dir=str(tmp_path / "results"), run_name="tiny")
        values.update(changes)
        return load_config([DEMO_CONFIG], values=values)
    return make
