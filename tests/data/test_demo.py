import io
import os

import numpy as np
from PIL import Image

from resnext import atomic
from resnext.data import demo


def _files(root):
    found = {}
    for d, _, names in os.walk(root):
        for n in names:
            path = os.path.join(d, n)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read()
    return found


def test_split_rounds_each_class_and_is_seeded():
    targets = np.array([0] * 10 + [1] * 7 + [2] * 3)
    split = demo.split_indices(targets, 0.2, seed=0)
    val_classes = np.bincount(targets[split["val"]], minlength=3)
    assert val_classes.tolist() == [2, 1, 1]  # round(2.0), round(1.4), round(0.6)
    assert sorted(split["train"] + split["val"]) == list(range(20))
    assert demo.split_indices(targets, 0.2, seed=0) == split
    assert demo.split_indices(targets, 0.2, seed=1) != split


def test_digit_jpeg_is_rgb_upscaled_and_bright_where_the_ink_is():
    pixels = np.zeros((8, 8))
    pixels[:, 4:] = 16.0
    img = Image.open(io.BytesIO(demo.digit_jpeg(pixels, 32)))
    assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (32, 32))
    arr = np.asarray(img).astype(int)
    assert arr[:, :12].mean() < 20 and arr[:, 20:].mean() > 235


def test_demo_tree_counts_layout_and_byte_identical_rerun(tmp_path):
    first = demo.write_demo_tree(str(tmp_path / "a"), image_size=16, val_fraction=0.2, seed=0)
    assert (first["train"], first["val"]) == (1438, 359)
    assert atomic.read_json(str(tmp_path / "a" / "demo.json")) == first
    files = _files(str(tmp_path / "a"))
    jpegs = [p for p in files if p.endswith(".JPEG")]
    assert len(jpegs) == 1797 and not [p for p in files if ".tmp" in p]
    assert sorted(os.listdir(str(tmp_path / "a" / "train"))) == ["d%07d" % d for d in range(10)]
    assert sum(first["per_class"]["val"].values()) == 359
    assert first["per_class"]["val"]["d0000003"] == 37  # 183 threes, round(36.6)
    second = demo.write_demo_tree(str(tmp_path / "b"), image_size=16, val_fraction=0.2, seed=0)
    assert second == first
    assert _files(str(tmp_path / "b")) == files


def test_rewrite_with_other_seed_leaves_no_stale_images(tmp_path):
    out = str(tmp_path / "tree")
    demo.write_demo_tree(out, image_size=16, seed=0)
    summary = demo.write_demo_tree(out, image_size=16, seed=1)
    jpegs = [p for p in _files(out) if p.endswith(".JPEG")]
    assert len(jpegs) == 1797
    assert len([p for p in jpegs if p.startswith("val")]) == summary["val"]
    from sklearn.datasets import load_digits

    expected_val = demo.split_indices(load_digits().target, 0.2, seed=1)["val"]
    got_val = sorted(int(p.split("digit_")[1][:4]) for p in jpegs if p.startswith("val"))
    assert got_val == expected_val
