"""Tiny JPEG trees and converted datasets shared by the data tests.

The session tree: 3 digit classes, 8 train images each (24) and 3 + 2 + 2 = 7 validation images,
16x16 RGB JPEGs made from scikit-learn's digits. Converted once per session into 3 train shards
and 2 validation shards. The messy tree adds every kind of bad file real ImageNet trees hold.
"""

import os
import shutil

import numpy as np
import pytest

import imagemaker
from resnext.config import load_config
from resnext.data import convert
from support.trees import IMAGE_SIZE, TRAIN_PER_CLASS, VAL_PER_CLASS, write_tree  # noqa: F401


def make_cfg(tmp, source, **changes):
    """A config for the tiny tree, with results under tmp; `changes` override any key."""
    values = dict(
        results_dir=str(tmp),
        run_name="tiny",
        source_dir=str(source),
        num_classes=3,
        label_offset=0,
        train_shards=3,
        validation_shards=2,
        convert_workers=1,
        num_train_images=len(VAL_PER_CLASS) * TRAIN_PER_CLASS,
        image_size=IMAGE_SIZE,
        batch_size=4,
        eval_batch_size=3,
        shuffle_buffer=16,
        crop_area_min=0.5,
        random_flip=True,
        seed=0,
    )
    values.update(changes)
    return load_config([], values=values)


class WithKeys:
    """A config plus keys the schema may not have yet (the data stage reads them with getattr)."""

    def __init__(self, cfg, **keys):
        self._cfg, self._keys = cfg, keys

    def __getattr__(self, name):
        if name in self._keys:
            return self._keys[name]
        return getattr(self._cfg, name)


@pytest.fixture(scope="session")
def tiny_tree(tmp_path_factory):
    return write_tree(tmp_path_factory.mktemp("tree"))


@pytest.fixture(scope="session")
def converted(tmp_path_factory, tiny_tree):
    """(cfg, manifest) of the tiny tree converted once."""
    cfg = make_cfg(tmp_path_factory.mktemp("results"), tiny_tree)
    return cfg, convert.convert(cfg)


@pytest.fixture(scope="session")
def messy_tree(tmp_path_factory, tiny_tree):
    """(root, {relative path: expected outcome}) of the tiny tree plus bad files in
    train and validation.

    Outcomes: 'kept', 'warning', 'reencoded:<kind>', 'skipped'. Also a stray file in train/ and a
    folder nested in a class folder (both skipped: every entry found is accounted for).
    """
    root = str(tmp_path_factory.mktemp("messy"))
    shutil.copytree(tiny_tree, root, dirs_exist_ok=True)
    outcomes = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            outcomes[os.path.relpath(os.path.join(dirpath, name), root)] = "kept"
    for folder, seed in (("train/d0000001", 1), ("val/d0000002", 2)):
        for name, (data, outcome) in imagemaker.bad_files(seed).items():
            imagemaker.write(os.path.join(root, folder, name), data)
            outcomes[os.path.join(folder, name)] = outcome
    imagemaker.write(os.path.join(root, "train", "README.txt"), b"stray\n")
    os.makedirs(os.path.join(root, "train", "d0000002", "nested"))
    outcomes.update({"train/README.txt": "skipped", "train/d0000002/nested": "skipped"})
    return root, outcomes


@pytest.fixture(scope="session")
def photo_tree(tmp_path_factory):
    """3 classes x (64 train + 8 val) ImageNet-like 480x360 JPEGs (quality 90):
    conversion takes a while.

    Each class is one photo shifted sideways by a different amount per image
    (cheap to make, all distinct).
    """
    root = str(tmp_path_factory.mktemp("photos"))
    for c in range(3):
        base = imagemaker.photo(360, 480, seed=c)
        for k in range(72):
            split = "train" if k < 64 else "val"
            data = imagemaker.encode(np.roll(base, 7 * k, axis=1), quality=90)
            imagemaker.write(os.path.join(root, split, "n%08d" % c, "img_%03d.JPEG" % k), data)
    return root


@pytest.fixture(scope="session")
def cfg_factory():
    """make_cfg(tmp, source, **changes) as a fixture (test modules do not import conftest)."""
    return make_cfg


@pytest.fixture(scope="session")
def tree_factory():
    """write_tree(root, train_per_class, val_per_class, size) as a fixture."""
    return write_tree


@pytest.fixture(scope="session")
def with_keys():
    """WithKeys(cfg, **keys): cfg plus keys the schema may not have yet."""
    return WithKeys
