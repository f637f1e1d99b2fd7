"""Small JPEG trees of real digits (scikit-learn's), in the layout `resnext convert` reads."""

import os

import numpy as np

from resnext.data import demo

TRAIN_PER_CLASS = 8
VAL_PER_CLASS = (3, 2, 2)
IMAGE_SIZE = 16


def write_tree(root, train_per_class=TRAIN_PER_CLASS, val_per_class=VAL_PER_CLASS, size=IMAGE_SIZE):
    """Write a small train/<synset>/ + val/<synset>/ JPEG tree of real digits under root."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for c, n_val in enumerate(val_per_class):
        members = np.flatnonzero(digits.target == c)[: train_per_class + n_val]
        for k, i in enumerate(members):
            split = "train" if k < train_per_class else "val"
            folder = os.path.join(str(root), split, demo.synset(c))
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "digit_%04d.JPEG" % i), "wb") as f:
                f.write(demo.digit_jpeg(digits.images[i], size))
    return str(root)
