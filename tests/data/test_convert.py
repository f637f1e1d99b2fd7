import os
import shutil

import numpy as np
import pytest

import imagemaker
from resnext import atomic
from resnext.config import ConfigError
from resnext.data import convert, images, tfrecord
from resnext.data import manifest as manifests
from support.tfrecords import iter_records

TRAIN_PER_CLASS, VAL_PER_CLASS = 8, (3, 2, 2)  # the session tree of conftest.py


def examples(path):
    """Every record of a shard as {feature: first value, or the list for bbox features}."""
    import tensorflow as tf

    out = []
    for payload in iter_records(path, verify=True):
        ex = {}
        for key, feat in tf.train.Example.FromString(payload).features.feature.items():
            values = list(feat.bytes_list.value or feat.int64_list.value or feat.float_list.value)
            ex[key] = values if key.startswith("image/object/") else values[0]
        out.append(ex)
    return out


def all_examples(data_dir, split):
    out = []
    for name in sorted(os.listdir(data_dir)):
        if manifests.SHARD_RE.match(name) and name.startswith(split + "-"):
            out.extend(examples(os.path.join(data_dir, name)))
    return out


def test_shard_names_and_manifest_counts(converted):
    cfg, manifest = converted
    names = sorted(n for n in os.listdir(cfg.data_dir))
    assert names == [
        "manifest.json",
        "train-00000-of-00003",
        "train-00001-of-00003",
        "train-00002-of-00003",
        "validation-00000-of-00002",
        "validation-00001-of-00002",
    ]
    train, val = manifest["splits"]["train"], manifest["splits"]["validation"]
    assert (
        train["num_images"] == 3 * TRAIN_PER_CLASS == sum(s["num_records"] for s in train["shards"])
    )
    assert val["num_images"] == sum(VAL_PER_CLASS) == sum(s["num_records"] for s in val["shards"])
    assert [s["num_records"] for s in train["shards"]] == [8, 8, 8]
    assert manifest["label_map"] == {"d0000000": 0, "d0000001": 1, "d0000002": 2}
    assert (
        manifest["num_classes_found"] == 3 and manifest["skipped"] == [] and manifest["seed"] == 0
    )
    assert manifest["counts"]["train"]["files"] == manifest["counts"]["train"]["kept"] == 24
    assert atomic.read_json(os.path.join(cfg.data_dir, "manifest.json")) == manifest
    for shard in train["shards"] + val["shards"]:
        path = os.path.join(cfg.data_dir, shard["name"])
        assert (
            atomic.sha256_file(path) == shard["sha256"] and os.path.getsize(path) == shard["bytes"]
        )
        assert tfrecord.check_file(path) == shard["num_records"]
    assert convert.verify(cfg) == []


def test_records_keep_the_source_bytes_and_tf_slim_fields(converted, tiny_tree):
    cfg, _ = converted
    seen = []
    for split, folder in (("train", "train"), ("validation", "val")):
        for ex in all_examples(cfg.data_dir, split):
            syn, name = ex["image/class/synset"].decode(), ex["image/filename"].decode()
            with open(os.path.join(tiny_tree, folder, syn, name), "rb") as f:
                source = f.read()
            assert ex["image/encoded"] == source  # a clean JPEG is stored as it is
            assert ex["image/class/label"] == int(syn[1:]) and ex["image/format"] == b"JPEG"
            assert ex["image/colorspace"] == b"RGB" and ex["image/channels"] == 3
            assert (ex["image/height"], ex["image/width"]) == imagemaker.decode(source).shape[:2]
            assert ex["image/object/bbox/xmin"] == [] and ex["image/object/bbox/label"] == []
            seen.append((folder, syn, name))
    expected = [
        (s, c, n)
        for s in ("train", "val")
        for c in sorted(os.listdir(os.path.join(tiny_tree, s)))
        for n in os.listdir(os.path.join(tiny_tree, s, c))
    ]
    assert sorted(seen) == sorted(expected)


def test_train_order_is_shuffled_by_seed_and_validation_sorted(converted, tmp_path):
    cfg, manifest = converted
    train_names = [ex["image/filename"] for ex in all_examples(cfg.data_dir, "train")]
    assert train_names != sorted(train_names)
    val = [
        (ex["image/class/synset"], ex["image/filename"])
        for ex in all_examples(cfg.data_dir, "validation")
    ]
    assert val == sorted(val)
    again = convert.convert(cfg.replace(results_dir=str(tmp_path)))
    assert again["splits"] == manifest["splits"]
    other = convert.convert(cfg.replace(results_dir=str(tmp_path / "s1"), seed=1))
    assert other["splits"]["train"] != manifest["splits"]["train"]


def _outcome_counts(outcomes, split_folder):
    mine = {p: o for p, o in outcomes.items() if p.startswith(split_folder + "/")}
    kinds = {}
    for o in mine.values():
        if o.startswith("reencoded:"):
            kinds[o.split(":")[1]] = kinds.get(o.split(":")[1], 0) + 1
    skipped = sum(o == "skipped" for o in mine.values())
    return {
        "files": len(mine),
        "written": len(mine) - skipped,
        "skipped": skipped,
        "kept": sum(o in ("kept", "warning") for o in mine.values()),
        "reencoded": sum(kinds.values()),
        "reencoded_by_kind": kinds,
        "warnings": sum(o == "warning" for o in mine.values()),
    }


def test_bad_files_are_counted_listed_and_the_counts_add_up(tmp_path, messy_tree, cfg_factory):
    root, outcomes = messy_tree
    manifest = convert.convert(cfg_factory(tmp_path, root))
    for split, folder in (("train", "train"), ("validation", "val")):
        counts = manifest["counts"][split]
        assert {k: counts[k] for k in _outcome_counts(outcomes, folder)} == _outcome_counts(
            outcomes, folder
        )
        assert (
            counts["files"]
            == counts["written"] + counts["skipped"]
            == len([p for p in outcomes if p.startswith(folder + "/")])
        )
        assert (
            counts["written"]
            == counts["kept"] + counts["reencoded"]
            == manifest["splits"][split]["num_images"]
        )
    listed = {os.path.relpath(e["path"], root): e for e in manifest["skipped"]}
    assert set(listed) == {p for p, o in outcomes.items() if o == "skipped"}
    assert listed["train/d0000001/empty.JPEG"]["reason"] == "empty file"
    assert listed["train/d0000001/truncated.JPEG"]["reason"].startswith(
        "cannot decode: OSError: image file is trunc"
    )
    assert listed["train/README.txt"]["reason"] == "not inside a class folder"
    assert listed["train/README.txt"]["shard"] is None  # skipped while listing, in no shard
    assert listed["val/d0000002/notes.txt"]["split"] == "validation"
    assert listed["val/d0000002/notes.txt"]["shard"].startswith("validation-")
    kinds = {os.path.relpath(e["path"], root): e["kind"] for e in manifest["reencoded"]}
    assert kinds == {p: o.split(":")[1] for p, o in outcomes.items() if o.startswith("reencoded:")}
    warned = [os.path.relpath(e["path"], root) for e in manifest["warnings"]]
    assert warned == sorted(p for p, o in outcomes.items() if o == "warning")


def test_bad_file_records_round_trip_within_jpeg_tolerance(tmp_path, messy_tree, cfg_factory):
    root, outcomes = messy_tree
    cfg = cfg_factory(tmp_path, root)
    convert.convert(cfg)
    checked = set()
    for split, folder in (("train", "train"), ("validation", "val")):
        for ex in all_examples(cfg.data_dir, split):
            rel = os.path.join(
                folder, ex["image/class/synset"].decode(), ex["image/filename"].decode()
            )
            with open(os.path.join(root, rel), "rb") as f:
                source = f.read()
            got, want = imagemaker.decode(ex["image/encoded"]), imagemaker.decode(source)
            assert (
                got.shape == want.shape
                and (ex["image/height"], ex["image/width"]) == want.shape[:2]
            )
            if outcomes[rel].startswith("reencoded:"):
                assert ex["image/encoded"][:2] == b"\xff\xd8" and ex["image/encoded"] != source
                assert np.abs(got.astype(int) - want.astype(int)).max() <= 6, (
                    rel
                )  # quality 100, 4:4:4
            else:
                assert ex["image/encoded"] == source
            checked.add(rel)
    assert checked == {p for p, o in outcomes.items() if o != "skipped"}


def test_pillow_only_decoding_writes_the_same_shards(
    tmp_path, messy_tree, cfg_factory, monkeypatch
):
    root, _ = messy_tree
    fast = convert.convert(cfg_factory(tmp_path / "fast", root))
    monkeypatch.setattr(images, "simplejpeg", None)
    slow = convert.convert(cfg_factory(tmp_path / "slow", root))
    assert slow["splits"] == fast["splits"] and slow["reencoded"] == fast["reencoded"]
    assert [e["path"] for e in slow["skipped"]] == [e["path"] for e in fast["skipped"]]
    assert slow["warnings"] == [] and slow["decoder"].startswith(
        "Pillow"
    )  # Pillow does not report them


def test_num_classes_too_small_fails_naming_the_key(tmp_path, tiny_tree, cfg_factory):
    with pytest.raises(ConfigError, match="num_classes"):
        convert.convert(cfg_factory(tmp_path, tiny_tree, num_classes=2))
    with pytest.raises(ConfigError, match="num_classes .*at least 4"):
        convert.convert(cfg_factory(tmp_path, tiny_tree, label_offset=1))
    assert not os.path.exists(os.path.join(str(tmp_path), "tiny", "data"))
    manifest = convert.convert(cfg_factory(tmp_path, tiny_tree, label_offset=1, num_classes=4))
    assert manifest["label_map"] == {"d0000000": 1, "d0000001": 2, "d0000002": 3}


def test_workers_give_identical_shards_and_stale_files_go(converted, tmp_path):
    """Stale files the converter can prove it wrote go: temp files (by name), and a shard of an
    earlier plan whose sidecar names it. (Shard-named files it did not write are refused instead:
    tests/reliability/test_converter_owns.py.)"""
    cfg, manifest = converted
    parallel = cfg.replace(results_dir=str(tmp_path), convert_workers=2)
    os.makedirs(parallel.data_dir)
    for stale in (
        "train-00004-of-00009",
        "train-00001-of-00003.tmp-99",
        "manifest.json.tmp-7",
        "train-00004-of-00009.json.tmp-3",
    ):
        open(os.path.join(parallel.data_dir, stale), "wb").close()
    atomic.write_json(
        os.path.join(parallel.data_dir, "train-00004-of-00009.json"),
        {"name": "train-00004-of-00009", "task_sha256": "0" * 64},
    )
    assert convert.convert(parallel) == manifest
    assert sorted(os.listdir(parallel.data_dir)) == sorted(os.listdir(cfg.data_dir))
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
    with pytest.raises(FileNotFoundError, match="no val/ .*folder"):
        convert.convert(cfg_factory(tmp_path, root))
