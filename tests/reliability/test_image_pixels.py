"""One pixel limit, max_image_pixels, on every path an image takes (issue 12, item 10).

Before, a 16000 x 16000 JPEG passed the converter's 1/8-scale check and later killed evaluation
without naming the image (a kept 13000 x 13000 one cost evaluation +2.5 GB). Now each path reads
the image's header first: the converter skips an image over the limit with the reason (as it skips
every unusable image: the manifest names it and the key), `resnext index` refuses the record
(exit 2, shard, record and key named, no manifest), and evaluation, export's sample and training
stop before the decode (exit 2, one line naming the image's file name, its shard and the key, no
result written). The 16000 x 16000 cases are real JPEGs whose frame header says so (the scan data
is a small image's: nothing is ever decoded at that size); the decode paths are tested on the real
digits under a lowered limit.
"""

import io
import os

import pytest

from resnext import atomic, paths
from support.trees import write_tree

import hostile as H
import rel_support as S

HUGE = 16000


def _jpeg(size, fmt="JPEG"):
    from PIL import Image
    import numpy as np

    pixels = (np.arange(size * size * 3) % 251).astype("uint8").reshape(size, size, 3)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return buf.getvalue()


def _claiming(data, height, width):
    """A JPEG whose baseline frame header (SOF0) claims height x width."""
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[at + 9 :]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return write_tree(tmp_path_factory.mktemp("pixels-tree"))


def _convert(tmp_path, tree, caplog, **changes):
    config = H.convert_config(tmp_path / "c.yaml", tmp_path, tree, "px", **changes)
    return H.main(["convert", "--config", config], caplog)


@pytest.mark.parametrize(
    "name,data,limit",
    [
        ("huge.JPEG", _claiming(_jpeg(40), HUGE, HUGE), None),  # default limit, the size
        ("big.JPEG", _jpeg(40), 1000),  # a real JPEG over a lowered limit (libjpeg's header)
        ("big.png", _jpeg(40, "PNG"), 1000),  # Pillow's header
    ],
    ids=["16000x16000-jpeg", "jpeg-over-limit", "png-over-limit"],
)
def test_conversion_skips_an_image_over_the_limit_naming_it_and_the_key(
    name, data, limit, pristine, tmp_path, caplog, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    tree = H.copy_tree(pristine, tmp_path)
    victim = tree / "val" / "d0000000" / name
    victim.write_bytes(data)
    before = H.sha256(victim)
    code, text = _convert(
        tmp_path, tree, caplog, **({} if limit is None else {"max_image_pixels": limit})
    )
    assert code == 0 and "Traceback" not in text, text
    manifest = atomic.read_json(str(tmp_path / "data" / "manifest.json"))
    skipped = [e for e in manifest["skipped"] if e["path"] == str(victim)]
    assert len(skipped) == 1, manifest["skipped"]
    side = HUGE if limit is None else 40
    assert (
        "%d x %d = %d pixels, over max_image_pixels" % (side, side, side * side)
        in skipped[0]["reason"]
    ), skipped[0]
    assert manifest["counts"]["validation"]["written"] == 7  # the rest converted
    assert H.sha256(victim) == before


def _tf_slim_shards(folder, images):
    """TF-slim shards written by TensorFlow's own writer: a train and a validation shard, records
    (file name, jpeg bytes, label) as given for both."""
    import tensorflow as tf

    os.makedirs(str(folder))
    for split in ("train", "validation"):
        path = os.path.join(str(folder), "%s-00000-of-00001" % split)
        with tf.io.TFRecordWriter(path) as writer:
            for name, data, label in images:
                feature = {
                    "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
                    "image/filename": tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[name.encode()])
                    ),
                    "image/class/label": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[label])
                    ),
                }
                writer.write(
                    tf.train.Example(
                        features=tf.train.Features(feature=feature)
                    ).SerializeToString()
                )


def test_index_refuses_a_record_over_the_limit(tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shards = tmp_path / "their-shards"
    small = _jpeg(16)
    _tf_slim_shards(
        shards,
        [
            ("a.JPEG", small, 0),
            ("b.JPEG", small, 1),
            ("huge.JPEG", _claiming(small, HUGE, HUGE), 2),
        ],
    )
    config = H.write_yaml(
        tmp_path / "c.yaml",
        dict(
            results_dir=str(tmp_path / "results"),
            run_name="px",
            num_classes=3,
            image_size=16,
            data_url=str(shards),
            num_train_images=3,
        ),
    )
    before = H.tree(tmp_path)
    line, _ = H.refused(["index", "--config", config], caplog)
    assert str(shards / "train-00000-of-00001") in line and "record 2" in line, line
    size = "%d x %d = %d pixels" % (HUGE, HUGE, HUGE * HUGE)
    assert size + ", over max_image_pixels (89478485)" in line
    assert H.tree(tmp_path) == before  # the shards (victims) unchanged, no manifest, no run folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits_data):
    """A step-4 checkpoint of the tiny model, outside any test's folder."""
    from resnext.backends import get_backend
    from resnext.train import loop

    cfg = S.tiny_config(digits_data, tmp_path_factory.mktemp("pixels") / "results", "trained")
    loop.train_block(cfg, 4, get_backend(cfg, 0, 1))
    return paths.ckpt_prefix(cfg.train_dir, 4)


def _decode_refused(text, split, digits_data):
    """The one line of a decode stopped by the limit (the digits are 32 x 32: 1024 pixels)."""
    line = H.error_line(text)
    assert "image digit_" in line and ".JPEG in one of the 2 shards in %s" % digits_data in line
    assert "32 x 32 = 1024 pixels, over max_image_pixels (1000)" in line, line
    return line


@pytest.mark.parametrize("stage", ["evaluate", "export"])
def test_evaluation_and_export_stop_naming_the_image(
    stage, trained, digits_data, tmp_path, caplog, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    config = H.tiny_config_file(
        tmp_path / "c.yaml", digits_data, tmp_path / "results", max_image_pixels=1000
    )
    before, data = H.tree(tmp_path), H.tree(digits_data)
    code, text = H.main([stage, "--config", config, "--checkpoint", trained], caplog)
    assert code == 2, text
    _decode_refused(text, "validation", digits_data)
    assert H.tree(tmp_path) == before and H.tree(digits_data) == data  # no result anywhere


def test_training_stops_naming_the_image(digits_data, tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = H.tiny_config_file(
        tmp_path / "c.yaml", digits_data, tmp_path / "results", max_image_pixels=1000
    )
    data = H.tree(digits_data)
    code, text = H.main(["train-rank", "--config", config, "--until-step", 4], caplog)
    assert code == 2, text
    _decode_refused(text, "train", digits_data)
    train_dir = tmp_path / "results" / "tiny" / "train"
    assert (
        not any(n.startswith("model.ckpt") for n in os.listdir(str(train_dir)))
        if train_dir.exists()
        else True
    )
    assert H.tree(digits_data) == data
