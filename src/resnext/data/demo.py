"""The embedded demo dataset: scikit-learn's bundled digits as an ImageNet-style JPEG tree.

`load_digits()` ships 1,797 real 8x8 grey images of the digits 0-9 (values 0..16) inside the
scikit-learn wheel, so the demo needs no download. They are written as

    <out>/train/d0000000/digit_0000.JPEG ... <out>/val/d0000009/digit_1796.JPEG
    <out>/demo.json      (written last: counts per split and class, seed, image size)

upscaled to RGB `image_size` x `image_size` JPEGs (white digit on black). Class folders look like
ImageNet synsets and sort in digit order. The split is seeded per class; file names carry the
digit's index in scikit-learn's array, so the same arguments always give byte-identical files.
Host only.
"""

import io
import logging
import os

import numpy as np

from resnext import atomic

log = logging.getLogger(__name__)

MARKER = "demo.json"
SPLITS = ("train", "val")
JPEG_QUALITY = 95


def synset(digit):
    """Class folder name of a digit: 3 -> 'd0000003'."""
    return "d%07d" % digit


def split_indices(targets, val_fraction, seed):
    """Seeded per-class split of sample indices.

    targets: int array [N] of class ids. Each class c with n_c samples puts round(n_c *
    val_fraction) of them (chosen by a numpy Generator seeded with `seed`, classes in ascending
    order) in val. Returns {"train": sorted int list, "val": sorted int list}.
    """
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(targets):
        members = np.flatnonzero(targets == c)
        n_val = int(round(len(members) * val_fraction))
        chosen = rng.permutation(members)
        val.extend(int(i) for i in chosen[:n_val])
        train.extend(int(i) for i in chosen[n_val:])
    return {"train": sorted(train), "val": sorted(val)}


def digit_jpeg(pixels, image_size):
    """8x8 float array (0..16) -> JPEG bytes of an RGB image_size x image_size picture."""
    from PIL import Image

    grey = np.clip(np.round(np.asarray(pixels, dtype=np.float64) * (255.0 / 16.0)), 0, 255).astype(
        np.uint8
    )
    picture = Image.fromarray(grey).resize((image_size, image_size), Image.BICUBIC).convert("RGB")
    buf = io.BytesIO()
    picture.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _remove_stale(out_dir, expected):
    """Delete demo JPEGs left in our class folders by an earlier call with other arguments."""
    for split in SPLITS:
        split_dir = os.path.join(out_dir, split)
        if not os.path.isdir(split_dir):
            continue
        for folder in sorted(os.listdir(split_dir)):
            class_dir = os.path.join(split_dir, folder)
            if not (os.path.isdir(class_dir) and folder.startswith("d")):
                continue
            for name in sorted(os.listdir(class_dir)):
                path = os.path.join(class_dir, name)
                if name.startswith("digit_") and name.endswith(".JPEG") and path not in expected:
                    os.remove(path)
                    log.info("removed stale demo image %s", path)


def write_demo_tree(out_dir, image_size=32, val_fraction=0.2, seed=0):
    """Write the digits JPEG tree under `out_dir` (see module doc); demo.json is written last.

    Returns {"train": int, "val": int, "per_class": {split: {synset: int}}, "seed", "image_size",
    "val_fraction", "source"} -- the content of demo.json. With the defaults: 1,438 train, 359 val.
    """
    from sklearn.datasets import load_digits

    if not 0.0 < val_fraction < 1.0:
        raise ValueError("val_fraction must be in (0, 1), not %r" % (val_fraction,))
    digits = load_digits()
    marker = os.path.join(out_dir, MARKER)
    if os.path.exists(marker):
        os.remove(marker)  # no marker while the tree is being rewritten
    split = split_indices(digits.target, val_fraction, seed)
    per_class = {s: {} for s in SPLITS}
    expected = set()
    for name in SPLITS:
        for i in split[name]:
            label = synset(int(digits.target[i]))
            path = os.path.join(out_dir, name, label, "digit_%04d.JPEG" % i)
            atomic.write_bytes(path, digit_jpeg(digits.images[i], image_size))
            expected.add(path)
            per_class[name][label] = per_class[name].get(label, 0) + 1
        log.info("demo %s: %d images in %s", name, len(split[name]), os.path.join(out_dir, name))
    _remove_stale(out_dir, expected)
    summary = {
        "train": len(split["train"]),
        "val": len(split["val"]),
        "per_class": per_class,
        "seed": seed,
        "image_size": image_size,
        "val_fraction": val_fraction,
        "source": "sklearn.datasets.load_digits",
    }
    atomic.write_json(marker, summary)
    return summary
