"""Shared fixtures: a small converted digits dataset and tiny configs of the real builder."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# What resnext.compat sets before it imports TensorFlow (TF reads it once, at import): some test
# modules import tensorflow before resnext.compat, and the first import decides for the process.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from resnext.config import load_config  # noqa: E402

from support.paths import CLASSES, DEMO_CONFIG, TINY, TRAIN_PER_CLASS, VAL_PER_CLASS  # noqa: E402


@pytest.fixture(scope="session")
def digits_data(tmp_path_factory):
    """Folder of TFRecord shards + manifest: 10 digit classes, 120 train and 40 validation images,
    32x32."""
    from resnext.data import convert
    from support.trees import write_tree

    root = tmp_path_factory.mktemp("digits")
    source = write_tree(root / "source", TRAIN_PER_CLASS, (VAL_PER_CLASS,) * CLASSES, 32)
    cfg = load_config(
        [DEMO_CONFIG],
        values=dict(
            TINY, source_dir=source, data_url=str(root / "data"), results_dir=str(root / "results")
        ),
    )
    convert.convert(cfg)
    return str(root / "data")


@pytest.fixture
def tiny_cfg(tmp_path, digits_data):
    """Factory: a config of the tiny variant on digits_data, results under tmp_path;
    kwargs override keys."""

    def make(**changes):
        values = dict(
            TINY, data_url=digits_data, results_dir=str(tmp_path / "results"), run_name="tiny"
        )
        values.update(changes)
        return load_config([DEMO_CONFIG], values=values)

    return make
