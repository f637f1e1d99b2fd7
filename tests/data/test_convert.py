import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from resnext import atomic
from resnext.config import ConfigError
from resnext.data import convert, tfrecord

TRAIN_PER_CLASS, VAL_PER_CLASS = 8, (3, 2, 2)  # the session tree of conftest.py


def _examples(path):
    import tensorflow as tf
    for payload in tfrecord.iter_records(path):
        feats = tf.train.Example.FromString(payload).features.feature
        yield {k: (v.bytes_list.value[0] if v.bytes_list.value else v.int64_list.value[0])
               for k, v in feats.items()}


def _all_examples(cfg, split):
    out = []
    for name in sorted(os.listdir(cfg.data_dir)):
        if name.startswith(split + "-"):
            out.extend(_examples(os.path.join(cfg.data_dir, name)))
    return out


def test_shard_names_and_manifest_counts(converted):
    cfg, manifest = converted
    names = sorted(n for n in os.listdir(cfg.data_dir))
    assert names == ["manifest.json", "train-00000-of-00003", "train-00001-of-00003", "train-00002-of-00003",
                     "validation-00000-of-00002", "validation-00001-of-00002"]
    train, val = manifest["splits"]["train"], manifest["splits"]["validation"]
    assert train["num_images"] == 3 * TRAIN_PER_CLASS == sum(s["num_records"] for s in train["shards"])
    assert val["num_images"] == sum(VAL_PER_CLASS) == sum(s["num_records"] for s in val["shards"])
    assert [s["num_records"] for s in train["shards"]] == [8, 8, 8]
    assert manifest["label_map"] == {"d0000000": 0, "d0000001": 1, "d0000002": 2}
    assert manifest["num_classes_found"] == 3 and manifest["skipped"] == [] and manifest["seed"] == 0
    assert atomic.read_json(os.path.join(cfg.data_dir, "manifest.json")) == manifest
    for shard in train["shards"] + val["shards"]:
        path = os.path.join(cfg.data_dir, shard["name"])
        assert tfrecord.sha256_file(path) == shard["sha256"]
        assert tfrecord.count_records(path) == shard["num_records"]
    assert convert.verify(cfg) == []


def test_records_round_trip_to_the_source_pixels(converted, tiny_tree):
    cfg, _ = converted
    seen = []
    for split, folder in (("train", "train"), ("validation", "val")):
        for ex in _all_examples(cfg, split):
            syn, name = ex["image/class/synset"].decode(), ex["image/filename"].decode()
            source = os.path.join(tiny_tree, folder, syn, name)
            assert ex["image/class/label"] == int(syn[1:]) and ex["image/format"] == b"JPEG"
            got = np.asarray(Image.open(io.BytesIO(ex["image/encoded"])))
            want = np.asarray(Image.open(source))
            assert np.array_equal(got, want)
            assert (ex["image/height"], ex["image/width"]) == want.shape[:2]
            seen.append((folder, syn, name))
    expected = [(s, c, n) for s in ("train", "val") for c in sorted(os.listdir(os.path.join(tiny_tree, s)))
                for n in os.listdir(os.path.join(tiny_tree, s, c))]
    assert sorted(seen) == sorted(expected)


def test_train_order_is_shuffled_by_seed_and_validation_sorted(converted, tmp_path):
    cfg, manifest = converted
    train_names = [ex["image/filename"] for ex in _all_examples(cfg, "train")]
    assert train_names != sorted(train_names)
    val = [(ex["image/class/synset"], ex["image/filename"]) for ex in _all_examples(cfg, "validation")]
    assert val == sorted(val)
    again = convert.convert(cfg.replace(results_dir=str(tmp_path)))
    assert again["splits"] == manifest["splits"]
    other = convert.convert(cfg.replace(results_dir=str(tmp_path / "s1"), seed=1))
    assert other["splits"]["train"] != manifest["splits"]["train"]


def test_bad_files_are_skipped_and_listed_and_png_reencoded(tmp_path, tiny_tree, cfg_factory):
    source = str(tmp_path / "tree")
    shutil.copytree(tiny_tree, source)
    cls = os.path.join(source, "train", "d0000001")
    open(os.path.join(cls, "empty.JPEG"), "wb").close()
    with open(os.path.join(cls, "notes.txt"), "w") as f:
        f.write("not an image")
    Image.new("RGB", (12, 10), (255, 0, 0)).save(os.path.join(cls, "red.JPEG"), format="PNG")
    cfg = cfg_factory(tmp_path / "out", source)
    manifest = convert.convert(cfg)
    reasons = {os.path.basename(s["path"]): s["reason"] for s in manifest["skipped"]}
    assert set(reasons) == {"empty.JPEG", "notes.txt"}
    assert reasons["empty.JPEG"] == "empty file" and reasons["notes.txt"].startswith("cannot decode")
    assert [os.path.basename(s["path"]) for s in manifest["reencoded"]] == ["red.JPEG"]
    assert manifest["splits"]["train"]["num_images"] == 3 * TRAIN_PER_CLASS + 1
    red = [ex for ex in _all_examples(cfg, "train") if ex["image/filename"] == b"red.JPEG"][0]
    img = Image.open(io.BytesIO(red["image/encoded"]))
    assert img.format == "JPEG" and (red["image/height"], red["image/width"]) == (10, 12)


def test_num_classes_too_small_fails_naming_the_key(tmp_path, tiny_tree, cfg_factory):
    with pytest.raises(ConfigError, match="num_classes"):
        convert.convert(cfg_factory(tmp_path, tiny_tree, num_classes=2))
    with pytest.raises(ConfigError, match="num_classes .*at least 4"):
        convert.convert(cfg_factory(tmp_path, tiny_tree, label_offset=1))
    assert not os.path.exists(os.path.join(str(tmp_path), "tiny", "data"))
    manifest = convert.convert(cfg_factory(tmp_path, tiny_tree, label_offset=1, num_classes=4))
    assert manifest["label_map"] == {"d0000000": 1, "d0000001": 2, "d0000002": 3}


def test_workers_give_identical_shards_and_stale_shards_go(converted, tmp_path):
    cfg, manifest = converted
    parallel = cfg.replace(results_dir=str(tmp_path), convert_workers=2)
    os.makedirs(parallel.data_dir)
    open(os.path.join(parallel.data_dir, "train-00000-of-00009"), "wb").close()
    assert convert.convert(parallel)["splits"] == manifest["splits"]
    assert "train-00000-of-00009" not in os.listdir(parallel.data_dir)
    assert convert.verify(parallel) == []


def test_verify_reports_corruption_and_unlisted_shards(converted, tmp_path):
    cfg, _ = converted
    copy = cfg.replace(results_dir=str(tmp_path))
    shutil.copytree(cfg.data_dir, copy.data_dir)
    with open(os.path.join(copy.data_dir, "train-00001-of-00003"), "ab") as f:
        f.write(b"\x00" * 5)
    open(os.path.join(copy.data_dir, "validation-00005-of-00009"), "wb").close()
    os.remove(os.path.join(copy.data_dir, "validation-00001-of-00002"))
    problems = "\n".join(convert.verify(copy))
    assert "train-00001-of-00003: sha256" in problems and "truncated" in problems
    assert "validation-00001-of-00002: missing" in problems
    assert "validation-00005-of-00009: shard not listed" in problems


def test_missing_tree_names_the_folder(tmp_path, cfg_factory, tree_factory):
    with pytest.raises(FileNotFoundError, match="no train/ folder"):
        convert.convert(cfg_factory(tmp_path, tmp_path / "nowhere"))
    root = tree_factory(tmp_path / "noval", train_per_class=1, val_per_class=(0, 0, 0))
    with pytest.raises(FileNotFoundError, match="no val/ folder"):
        convert.convert(cfg_factory(tmp_path, root))
