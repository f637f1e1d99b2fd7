import os
import re
import shutil
import time

import numpy as np
import pytest

from resnext.compat import tf
from resnext.data import pipeline, tfrecord
from support.tfrecords import iter_records


def _drain(ds, limit=None):
    """Run a dataset in a fresh graph-mode session; list of numpy tuples (at most `limit`)."""
    out = []
    with tf.Session() as sess:
        nxt = tf.data.make_one_shot_iterator(ds).get_next()
        while limit is None or len(out) < limit:
            try:
                out.append(sess.run(nxt))
            except tf.errors.OutOfRangeError:
                break
    return out


def _in_graph(fn):
    with tf.Graph().as_default():
        return fn()


def _real_rows(batches):
    """(label, rounded image bytes) of every row whose mask is 1."""
    rows = []
    for images, labels, mask in batches:
        rows.extend(
            (int(labels[i]), np.round(images[i], 3).tobytes()) for i in np.flatnonzero(mask)
        )
    return rows


def test_parse_record_reads_image_and_label(converted):
    cfg, _ = converted
    path = pipeline.list_shards(cfg.data_dir, "validation")[0]

    def run():
        ds = tf.data.TFRecordDataset([path]).map(pipeline.parse_record)
        return _drain(ds, limit=1)[0]

    jpeg, label = _in_graph(run)
    assert jpeg[:2] == b"\xff\xd8" and label.dtype == np.int32 and label == 0


def test_eval_covers_every_record_once_with_padding(converted):
    cfg, manifest = converted
    assert manifest["splits"]["validation"]["num_images"] == 7 and cfg.eval_batch_size == 3
    ds = _in_graph(lambda: pipeline.eval_dataset(cfg).output_shapes)
    assert [s.as_list() for s in ds] == [[3, 16, 16, 3], [3], [3]]
    batches = _in_graph(lambda: _drain(pipeline.eval_dataset(cfg)))
    assert len(batches) == 3 == pipeline.eval_steps(cfg)
    masks = np.concatenate([b[2] for b in batches])
    assert masks.tolist() == [1.0] * 7 + [0.0] * 2
    last_images, last_labels, _ = batches[-1]
    assert not last_images[1:].any() and not last_labels[1:].any()
    assert [r[0] for r in _real_rows(batches)] == [0, 0, 0, 1, 1, 2, 2]  # file order, deterministic
    assert (
        _in_graph(lambda: _drain(pipeline.eval_dataset(cfg)))[0][0].tobytes()
        == batches[0][0].tobytes()
    )


@pytest.mark.parametrize("rank_size", [2, 3])
def test_eval_ranks_together_cover_every_record_once_in_equal_steps(converted, rank_size):
    cfg, _ = converted
    single = sorted(_real_rows(_in_graph(lambda: _drain(pipeline.eval_dataset(cfg)))))
    per_rank = [
        _in_graph(lambda r=r: _drain(pipeline.eval_dataset(cfg, r, rank_size)))
        for r in range(rank_size)
    ]
    assert {len(b) for b in per_rank} == {pipeline.eval_steps(cfg, rank_size)}
    assert sum(float(np.sum(b[2])) for batches in per_rank for b in batches) == 7.0
    assert sorted(row for batches in per_rank for row in _real_rows(batches)) == single


def test_train_batches_have_static_shapes_and_normalised_values(converted):
    cfg, _ = converted
    shapes, types = _in_graph(
        lambda: (
            pipeline.train_dataset(cfg).output_shapes,
            pipeline.train_dataset(cfg).output_types,
        )
    )
    assert [s.as_list() for s in shapes] == [[4, 16, 16, 3], [4]] and types == (
        tf.float32,
        tf.int32,
    )
    batches = _in_graph(
        lambda: _drain(pipeline.train_dataset(cfg), limit=20)
    )  # > 3 epochs: it repeats
    images = np.stack([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert set(labels.tolist()) == {0, 1, 2}
    low = (0.0 - np.array(cfg.image_mean)) / np.array(cfg.image_std)
    assert (
        images.min() >= low.min() - 1e-4
        and images.max()
        <= ((255.0 - np.array(cfg.image_mean)) / np.array(cfg.image_std)).max() + 1e-4
    )


def test_train_order_repeats_per_rank_and_differs_between_ranks(converted):
    cfg, _ = converted

    def labels(rank, rank_size):
        batches = _in_graph(lambda: _drain(pipeline.train_dataset(cfg, rank, rank_size), limit=6))
        return np.concatenate([b[1] for b in batches]).tolist()

    assert labels(0, 2) == labels(0, 2)
    assert labels(0, 2) != labels(1, 2)


def test_more_ranks_than_files_shards_by_record(converted):
    """4 ranks, 3 files: each rank takes every 4th record, so one epoch splits exactly."""
    cfg, _ = converted
    whole = cfg.replace(crop_area_min=1.0, random_flip=False, shuffle_buffer=1, batch_size=2)
    everything = sorted(
        _real_rows(
            [
                (b[0], b[1], np.ones(2))
                for b in _in_graph(lambda: _drain(pipeline.train_dataset(whole), limit=12))
            ]
        )
    )
    parts = []
    for rank in range(4):
        batches = _in_graph(lambda: _drain(pipeline.train_dataset(whole, rank, 4), limit=3))
        parts.extend(_real_rows([(b[0], b[1], np.ones(2)) for b in batches]))
    assert len(parts) == 24 and sorted(parts) == everything


def test_missing_data_names_folder_and_pattern(tmp_path, converted):
    cfg, _ = converted
    with pytest.raises(FileNotFoundError, match="nowhere"):
        pipeline.train_dataset(cfg.replace(data_url=str(tmp_path / "nowhere")))
    (tmp_path / "train-00000-of-00001.tmp-12").write_bytes(b"")
    with pytest.raises(ValueError, match="no validation shards in %s.*validation-NNNNN" % tmp_path):
        pipeline.eval_dataset(cfg.replace(data_url=str(tmp_path)))
    with pytest.raises(ValueError, match="train-NNNNN-of-NNNNN"):
        pipeline.train_dataset(cfg.replace(data_url=str(tmp_path)))
    with pytest.raises(ValueError, match="rank 2"):
        pipeline.eval_dataset(cfg, rank=2, rank_size=2)
    assert os.path.isdir(cfg.data_dir)


def _damaged_copy(cfg, tmp_path):
    copy = cfg.replace(data_url=str(tmp_path / "data"))
    shutil.copytree(cfg.data_dir, copy.data_dir)
    return copy


def _cut(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


@pytest.mark.parametrize("cut", ["mid-record", "record-boundary"])
def test_truncated_shards_fail_fast_naming_the_file(converted, tmp_path, cut):
    cfg, manifest = converted
    copy = _damaged_copy(cfg, tmp_path)
    for split, make in (
        ("train", lambda: pipeline.train_dataset(copy, 1, 2)),
        ("validation", lambda: pipeline.eval_dataset(copy)),
    ):
        shard = manifest["splits"][split]["shards"][1]
        path = os.path.join(copy.data_dir, shard["name"])
        frames = list(iter_records(path))
        keep = shard["bytes"] - 30 if cut == "mid-record" else shard["bytes"] - len(frames[-1]) - 16
        _cut(path, keep)
        start = time.monotonic()
        with pytest.raises(tfrecord.CorruptRecordError, match=re.escape(path)):
            _in_graph(lambda: _drain(make(), limit=2))
        assert time.monotonic() - start < 10
    _in_graph(
        lambda: _drain(pipeline.train_dataset(copy, 0, 2), limit=1)
    )  # rank 0 does not read file 1


def test_a_shard_the_manifest_lists_must_exist(converted, tmp_path):
    cfg, _ = converted
    copy = _damaged_copy(cfg, tmp_path)
    os.remove(os.path.join(copy.data_dir, "validation-00000-of-00002"))
    with pytest.raises(FileNotFoundError, match="missing from .*validation-00000-of-00002"):
        pipeline.eval_dataset(copy)


def test_damaged_record_data_raises_naming_the_file(converted, tmp_path):
    cfg, manifest = converted
    copy = _damaged_copy(cfg, tmp_path)
    path = os.path.join(copy.data_dir, "validation-00001-of-00002")
    with open(path, "r+b") as f:  # inside the first record's JPEG: headers stay intact
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    files = pipeline.rank_files(copy, "validation")

    def run():
        with pipeline.naming_damaged_files(files):
            _drain(pipeline.eval_dataset(copy))

    with pytest.raises(
        tfrecord.CorruptRecordError, match="damaged TFRecord file %s" % re.escape(path)
    ):
        _in_graph(run)
    assert pipeline.find_damaged(pipeline.rank_files(cfg, "validation")) is None


@pytest.mark.filterwarnings("ignore:To make it possible to preserve tf.data options")
def test_input_threads_gives_the_dataset_a_private_pool(converted, with_keys):
    cfg, _ = converted
    threaded = with_keys(cfg, input_threads=1)

    def run():
        ds = pipeline.train_dataset(threaded)
        return ds.options().experimental_threading.private_threadpool_size, _drain(ds, limit=1)

    size, batches = _in_graph(run)
    assert size == 1 and batches[0][0].shape == (4, 16, 16, 3)
