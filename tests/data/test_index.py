"""`resnext index`: TF-slim and TFDS shards written by TensorFlow's own writer, adopted as they are.

Each layout: index, train 2 steps of the tiny model, evaluate; the shard folder is byte-for-byte
as it was, num_images equals the records written. Refusals name the shard, the record and its
byte offset, and write nothing.
"""

import json
import os
import shutil
import struct
import subprocess
import sys

import pytest

from resnext import atomic, paths
from resnext.backends import get_backend
from resnext.config import ConfigError, load_config
from resnext.data import index, pipeline, shardscan, tfrecord
from resnext.evaluate import evaluate
from resnext.train import loop, preflight
from support import foreign_shards as foreign
from support.paths import CLASSES, DEMO_CONFIG, TINY, TRAIN_PER_CLASS, VAL_PER_CLASS

LAYOUT_KEYS = {
    "tfslim": {"label_offset": 1, "num_classes": CLASSES + 1},
    "tfds": {"label_offset": 0, "num_classes": CLASSES},
}


@pytest.fixture(scope="module")
def items():
    return foreign.digit_items(CLASSES, TRAIN_PER_CLASS, VAL_PER_CLASS)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, items):
    """{layout: (folder, {split: [Example]})} written once by tf.io.TFRecordWriter."""
    out = {}
    for layout in ("tfslim", "tfds"):
        folder = str(tmp_path_factory.mktemp(layout) / "shards")
        out[layout] = folder, foreign.write_folder(folder, items, layout)
    return out


def _cfg(tmp_path, folder, layout, **changes):
    values = dict(
        TINY,
        data_url=folder,
        results_dir=str(tmp_path / "results"),
        run_name="adopted",
        max_train_steps=2,
        checkpoint_every_steps=2,
        **LAYOUT_KEYS[layout],
    )
    values.update(changes)
    return load_config([DEMO_CONFIG], values=values)


def _copy(folder, tmp_path):
    copy = str(tmp_path / "shards")
    shutil.copytree(folder, copy)
    return copy


def _frame_offsets(path):
    """Byte offset of every record's frame, from the file's own length fields."""
    offsets, offset, size = [], 0, os.path.getsize(path)
    with open(path, "rb") as f:
        while offset < size:
            f.seek(offset)
            length = struct.unpack("<Q", f.read(8))[0]
            offsets.append(offset)
            offset += length + 16
    return offsets


@pytest.mark.parametrize("layout", ["tfslim", "tfds"])
def test_index_then_train_and_evaluate_leaves_every_shard_as_it_was(tmp_path, folders, layout):
    folder, written = folders[layout]
    before = foreign.folder_state(folder)
    cfg = _cfg(tmp_path, folder, layout)
    manifest = index.index(cfg)
    on_disk = json.load(open(os.path.join(cfg.run_dir, "data", "manifest.json")))
    assert on_disk == manifest and manifest["adopted"] and manifest["layout"] == layout
    assert (
        manifest["splits"]["train"]["num_images"]
        == len(written["train"])
        == CLASSES * TRAIN_PER_CLASS
    )
    assert (
        manifest["splits"]["validation"]["num_images"]
        == len(written["validation"])
        == CLASSES * VAL_PER_CLASS
    )
    assert manifest["source"] is None and manifest["shard_dir"] == folder
    low = LAYOUT_KEYS[layout]["label_offset"]
    assert manifest["labels"] == {"min": low, "max": low + CLASSES - 1, "distinct": CLASSES}
    assert manifest["label_convention"] == ("1-based" if low else "0-based")
    assert manifest["label_map"] == {
        "n%08d" % c: c + low for c in range(CLASSES)
    }  # TFDS: from train file names
    for split in ("train", "validation"):
        for shard in manifest["splits"][split]["shards"]:
            assert (
                shard["sha256"] == before[shard["name"]][0]
                and shard["bytes"] == before[shard["name"]][1]
            )
    if layout == "tfslim":  # every 5th train image carries one box
        assert (
            manifest["counts"]["train"]["images_with_boxes"]
            == CLASSES * 3
            == manifest["counts"]["train"]["boxes"]
        )
    preflight.check_train_data(cfg)
    loop.train_block(cfg, 2, get_backend(cfg))
    result = evaluate(cfg, paths.ckpt_prefix(cfg.train_dir, 2))
    assert result["num_images"] == len(written["validation"]) and 0 <= result["top1"] <= 1
    import numpy as np

    with np.load(os.path.join(cfg.run_dir, "eval", "step-2.predictions.npz")) as saved:
        names = sorted(str(n) for n in saved["file_name"])
    key = {"tfslim": "image/filename", "tfds": "file_name"}[layout]  # the layout's own key
    expected = [e.features.feature[key].bytes_list.value[0].decode() for e in written["validation"]]
    assert names == sorted(expected)
    from resnext.report import build_report

    written_report = build_report(cfg)
    md = open(written_report["report.md"], encoding="utf-8").read()
    title = {"tfslim": "TF-slim", "tfds": "TFDS imagenet2012"}[layout]
    assert "indexed: existing %s" % title in md and folder in md
    audit = json.load(open(written_report["audit"]))
    assert audit["dataset"]["how"] == "index" and audit["dataset"]["layout"] == layout
    assert "index: data_url holds shards and no manifest.json" in md
    assert foreign.folder_state(folder) == before  # not a byte, not a new file, not an mtime


def test_the_pipeline_reads_labels_through_the_layouts_keys(tmp_path, folders):
    folder, written = folders["tfds"]
    cfg = _cfg(tmp_path, folder, "tfds", eval_batch_size=8)
    index.index(cfg)
    from resnext.compat import tf

    with tf.Graph().as_default(), tf.Session() as sess:
        nxt = tf.data.make_one_shot_iterator(pipeline.eval_dataset(cfg)).get_next()
        labels = []
        for _ in range(pipeline.eval_steps(cfg)):
            _, batch_labels, mask = sess.run(nxt)
            labels.extend(int(x) for x, m in zip(batch_labels, mask) if m)
    assert labels == [
        e.features.feature["label"].int64_list.value[0] for e in written["validation"]
    ]


def test_reindexing_the_same_shards_gives_the_same_manifest_bytes(tmp_path, folders):
    folder, _ = folders["tfslim"]
    cfg = _cfg(tmp_path, folder, "tfslim")
    index.index(cfg)
    path = os.path.join(cfg.run_dir, "data", "manifest.json")
    first = open(path, "rb").read()
    index.index(cfg)
    assert open(path, "rb").read() == first


def _refused(cfg, match):
    with pytest.raises((ValueError, ConfigError), match=match):
        index.index(cfg)
    assert not os.path.exists(cfg.run_dir)


def _first_record(folder, test):
    """(shard name, record index) of the first record in file order whose Example passes `test`."""
    from resnext.compat import tf

    for name in sorted(os.listdir(folder)):
        for k, data in enumerate(tf.io.tf_record_iterator(os.path.join(folder, name))):
            if test(tf.train.Example.FromString(data)):
                return name, k
    raise AssertionError("no such record")


def test_a_label_above_num_classes_is_refused_naming_shard_record_and_offset(tmp_path, folders):
    folder, _ = folders["tfslim"]
    cfg = _cfg(tmp_path, folder, "tfslim", num_classes=CLASSES)  # labels 1..10 need 11
    shard, k = _first_record(
        folder, lambda e: e.features.feature["image/class/label"].int64_list.value[0] == CLASSES
    )
    offset = _frame_offsets(os.path.join(folder, shard))[k]
    _refused(
        cfg,
        r"%s: record %d at byte offset %d: label 10 is outside .*set num_classes to at least 11"
        % (shard, k, offset),
    )


def test_label_conventions_that_contradict_label_offset_are_refused(tmp_path, folders):
    _refused(
        _cfg(tmp_path, folders["tfslim"][0], "tfslim", label_offset=0),
        "labels in .* run 1..10 and 0 never occurs.*set label_offset: 1",
    )
    _refused(
        _cfg(tmp_path, folders["tfds"][0], "tfds", label_offset=1, num_classes=11),
        "TFDS imagenet2012 .* labels start at 0: set label_offset: 0",
    )


def test_a_record_without_the_encoded_image_is_refused(tmp_path, items):
    seen = []

    def no_image_for_the_fourth(item):
        example = foreign.tfslim_example(item)
        seen.append(item)
        if len(seen) == 4:
            del example.features.feature["image/encoded"]
        return example

    folder = str(tmp_path / "shards")
    foreign.write_folder(folder, items, "tfslim", examples=no_image_for_the_fourth)
    offset = _frame_offsets(os.path.join(folder, "train-00000-of-00002"))[3]
    _refused(
        _cfg(tmp_path, folder, "tfslim"),
        r"train-00000-of-00002: record 3 at byte offset %d: no image/encoded feature" % offset,
    )


@pytest.mark.parametrize(
    "where,message",
    [
        ("data", "data checksum mismatch"),
        ("header", "length checksum mismatch"),
        ("cut", "truncated"),
    ],
)
def test_a_damaged_record_is_refused_naming_it(tmp_path, folders, where, message):
    folder = _copy(folders["tfds"][0], tmp_path)
    path = os.path.join(folder, "imagenet2012-validation.tfrecord-00001-of-00002")
    offset = _frame_offsets(path)[5]
    data = bytearray(open(path, "rb").read())
    if where == "cut":
        data = data[: offset + 40]
    else:
        data[offset + (30 if where == "data" else 2)] ^= 0x10
    open(path, "wb").write(bytes(data))
    before = foreign.folder_state(folder)
    _refused(
        _cfg(tmp_path, folder, "tfds"),
        r"%s: record 5 at byte offset %d: %s" % (path, offset, message),
    )
    assert foreign.folder_state(folder) == before


def test_the_cli_refuses_in_one_line_with_exit_2(tmp_path, folders):
    cfg = _cfg(tmp_path, folders["tfslim"][0], "tfslim", num_classes=5)
    config = str(tmp_path / "c.yaml")
    open(config, "w").write(cfg.to_yaml())
    run = subprocess.run(
        [sys.executable, "-m", "resnext.cli", "index", "--config", config],
        capture_output=True,
        text=True,
    )
    errors = [line for line in run.stderr.splitlines() if " ERROR " in line]
    assert (
        run.returncode == 2
        and len(errors) == 1
        and "record" in errors[0]
        and "Traceback" not in run.stderr
    )
    assert not os.path.exists(cfg.run_dir)


def test_a_shard_added_after_indexing_is_refused_by_the_pipeline(tmp_path, folders):
    folder = _copy(folders["tfslim"][0], tmp_path)
    cfg = _cfg(tmp_path, folder, "tfslim")
    index.index(cfg)
    shutil.copy(
        os.path.join(folder, "validation-00001-of-00002"),
        os.path.join(folder, "validation-00002-of-00002"),
    )
    with pytest.raises(
        FileNotFoundError, match="validation-00002-of-00002 are not in .*manifest.json"
    ):
        pipeline.eval_dataset(cfg)


def test_the_scan_hashes_and_checks_records_across_chunk_boundaries(tmp_path, monkeypatch):
    path = str(tmp_path / "x")
    records = [os.urandom(n) for n in (0, 1, 5000, 70000, 3, 9000)]
    tfrecord.write_records(path, records)
    monkeypatch.setattr(shardscan, "BATCH_BYTES", 4096)
    seen = []
    scan = shardscan.ShardScan(path, seen.append)
    assert [r for _, _, r in scan] == records
    assert scan.sha256 == atomic.sha256_file(path) and scan.size == sum(seen) == os.path.getsize(
        path
    )
    assert scan.num_records == len(records)


def test_a_folder_with_both_layouts_or_none_is_refused(tmp_path, folders):
    both = _copy(folders["tfslim"][0], tmp_path)
    for name in os.listdir(folders["tfds"][0]):
        shutil.copy(os.path.join(folders["tfds"][0], name), both)
    _refused(_cfg(tmp_path, both, "tfslim"), "holds both TF-slim .* and TFDS")
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(_cfg(tmp_path, str(empty), "tfslim"), "no complete shard set.*run `resnext convert`")
