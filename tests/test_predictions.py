"""Per-image predictions (eval/step-<step>.predictions.npz): what evaluation writes,
and reading it."""

import hashlib
import json
import os
import zipfile

import numpy as np
import pytest

from resnext import intervals, paths, predictions
from resnext.backends import get_backend
from resnext.compat import tf
from resnext.data import pipeline
from resnext.evaluate import evaluate
from resnext.train import loop


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, digits_data):
    from resnext.config import load_config
    from support.paths import DEMO_CONFIG, TINY

    root = tmp_path_factory.mktemp("pred")
    cfg = load_config(
        [DEMO_CONFIG],
        values=dict(
            TINY,
            data_url=digits_data,
            run_name="tiny",
            results_dir=str(root / "results"),
            eval_batch_size=16,
        ),
    )
    loop.train_block(cfg, 4, get_backend(cfg))
    prefix = paths.ckpt_prefix(cfg.train_dir, 4)
    return cfg, prefix, evaluate(cfg, prefix)


def _file_names(data_dir):
    """image/filename of every validation record, in shard order,
    read with TensorFlow's own parser."""
    names = []
    for path in pipeline.list_shards(data_dir, "validation"):
        for record in tf.compat.v1.io.tf_record_iterator(path):
            example = tf.train.Example.FromString(record)
            names.append(example.features.feature["image/filename"].bytes_list.value[0].decode())
    return names


def test_every_validation_image_has_a_row_consistent_with_the_sums(evaluated):
    cfg, _, result = evaluated
    path = os.path.join(cfg.run_dir, "eval", "step-4.predictions.npz")
    rows = predictions.read(path)
    n = result["num_images"]
    assert n == 40 and all(len(rows[f]) == n for f in predictions.FIELDS)
    assert rows["top5"].shape == (n, 5) and rows["top5"].dtype == np.int32
    assert np.isclose(rows["top1_correct"].mean(), result["top1"])
    assert np.isclose(rows["top5_correct"].mean(), result["top5"])
    assert result["top1_ci95"] == intervals.wilson(int(rows["top1_correct"].sum()), n)
    assert result["top5_ci95"] == intervals.wilson(int(rows["top5_correct"].sum()), n)
    assert ((rows["label_probability"] >= 0) & (rows["label_probability"] <= 1)).all()
    # the top-1 class is the first of the top 5; a hit in it is a top-1 hit
    assert (rows["top1_correct"] == (rows["top5"][:, 0] == rows["label"])).all()
    assert (rows["top5_correct"] == (rows["top5"] == rows["label"][:, None]).any(axis=1)).all()
    assert sorted(set(rows["label"].tolist())) == list(range(10))


def test_rows_name_the_records_in_validation_order(evaluated, digits_data):
    cfg, _, result = evaluated
    rows = predictions.read(os.path.join(cfg.run_dir, "eval", "step-4.predictions.npz"))
    assert list(rows["file_name"]) == _file_names(digits_data)
    assert len(set(rows["record_id"])) == len(rows["record_id"])
    assert rows["record_id"][0] == "validation-00000-of-00002:0"
    shards = [r.split(":")[0] for r in rows["record_id"]]
    assert shards == sorted(shards) and shards[-1] == "validation-00001-of-00002"


def test_the_eval_json_holds_the_files_sha256(evaluated):
    cfg, _, result = evaluated
    path = os.path.join(cfg.run_dir, "eval", "step-4.predictions.npz")
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert result["predictions"] == {"sha256": digest, "num_images": 40}
    with open(os.path.join(cfg.run_dir, "eval", "step-4.json")) as f:
        assert json.load(f)["predictions"]["sha256"] == digest


def test_equal_predictions_give_equal_bytes(evaluated):
    cfg, prefix, first = evaluated
    again = evaluate(cfg, prefix, out_path=os.path.join(cfg.run_dir, "again", "step-4.json"))
    assert os.path.isfile(os.path.join(cfg.run_dir, "again", "step-4.predictions.npz"))
    assert again["predictions"]["sha256"] == first["predictions"]["sha256"]


def test_shards_without_file_names_still_get_record_ids(tmp_path, tiny_cfg):
    """Shards written by TensorFlow's own writer with no image/filename (someone else's shards)."""
    from resnext.data import demo

    jpeg = demo.digit_jpeg(np.eye(8) * 16, 32)
    for shard in range(2):
        with tf.io.TFRecordWriter(str(tmp_path / ("validation-%05d-of-00002" % shard))) as writer:
            for label in range(3):
                feature = {
                    "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg])),
                    "image/class/label": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[label])
                    ),
                }
                writer.write(
                    tf.train.Example(
                        features=tf.train.Features(feature=feature)
                    ).SerializeToString()
                )
    cfg = tiny_cfg(data_url=str(tmp_path), eval_batch_size=4)
    graph = tf.Graph()
    with graph.as_default():
        batch = tf.data.make_one_shot_iterator(
            pipeline.eval_dataset(cfg, with_names=True)
        ).get_next()
        collector = predictions.Collector()
        with tf.Session() as sess:
            while True:
                try:
                    _, labels, mask, names, sources = sess.run(batch)
                except tf.errors.OutOfRangeError:
                    break
                rows = {
                    "label": labels,
                    "top5": np.zeros((len(labels), 5)),
                    "label_probability": mask,
                    "top1_correct": mask > 0,
                    "top5_correct": mask > 0,
                }
                collector.add(rows, mask, names, sources)
    arrays = collector.arrays(5)
    assert list(arrays["file_name"]) == [""] * 6
    assert list(arrays["record_id"]) == [
        "validation-0000%d-of-00002:%d" % (s, i) for s in range(2) for i in range(3)
    ]
    assert list(arrays["label"]) == [0, 1, 2, 0, 1, 2]


@pytest.mark.parametrize("damage", ["not a zip", "missing field", "wrong kind"])
def test_a_file_that_is_not_predictions_is_refused_naming_it(tmp_path, damage):
    path = str(tmp_path / "step-4.predictions.npz")
    arrays = {
        "record_id": np.array(["a:0"]),
        "file_name": np.array([""]),
        "label": np.array([1], np.int32),
        "top5": np.zeros((1, 5), np.int32),
        "label_probability": np.array([0.5], np.float32),
        "top1_correct": np.array([True]),
        "top5_correct": np.array([True]),
    }
    predictions.write(path, arrays)
    assert predictions.read(path)["label"].tolist() == [1]
    if damage == "not a zip":
        open(path, "wb").write(b"<script>")
    elif damage == "missing field":
        np.savez(path[:-4], label=arrays["label"])
    else:
        predictions.write(path, dict(arrays, label=np.array(["x"])))
    with pytest.raises(predictions.PredictionsError, match="step-4.predictions.npz"):
        predictions.read(path)


def test_the_file_is_a_plain_npz_with_fixed_member_times(tmp_path):
    path = str(tmp_path / "p.npz")
    arrays = predictions.Collector().arrays(5)
    predictions.write(path, arrays)
    with zipfile.ZipFile(path) as archive:
        assert [i.filename for i in archive.infolist()] == [f + ".npy" for f in predictions.FIELDS]
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert np.load(path)["top5"].shape == (0, 5)
