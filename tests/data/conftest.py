"""Tiny JPEG trees and converted datasets shared by the data tests.

The session tree: 3 digit classes, 8 train images each (24) and 3 + 2 + 2 = 7 validation images,
16x16 RGB JPEGs made from scikit-learn's digits. Converted once per session into 3 train shards
and 2 validation shards.
"""
import os

import pytest

from resnext.config import load_config
from resnext.data import convert
from support.trees import IMAGE_SIZE, TRAIN_PER_CLASS, VAL_PER_CLASS, write_tree  # noqa: F401


def make_cfg(tmp, source, **changes):
    """A config for the tiny tree, with results under tmp; `changes` override any key."""
    values = dict(results_dir=str(tmp), run_name="tiny", source_dir=str(source), num_classes=3,
                  label_offset=0, train_shards=3, validation_shards=2, convert_workers=1,
                  num_train_images=len(VAL_PER_CLASS) * TRAIN_PER_CLASS, image_size=IMAGE_SIZE,
                  batch_size=4, eval_batch_size=3, shuffle_buffer=16, crop_area_min=0.5,
                  random_flip=True, seed=0)
    values.update(changes)
    return load_config([], values=values)


@pytest.fixture(scope="session")
def tiny_tree(tmp_path_factory):
    return write_tree(tmp_path_factory.mktemp("tree"))


@pytest.fixture(scope="session")
def converted(tmp_path_factory, tiny_tree):
    """(cfg, manifest) of the tiny tree converted once."""
    cfg = make_cfg(tmp_path_factory.mktemp("results"), tiny_tree)
    return cfg, convert.convert(cfg)


@pytest.fixture(scope="session")
def cfg_factory():
    """make_cfg(tmp, source, **changes) as a fixture (test modules do not import conftest)."""
    return make_cfg


@pytest.fixture(scope="session")
def tree_factory():
    """write_tree(root, train_per_class, val_per_class, size) as a fixture."""
    return write_tree
