"""Framing, checksums and Example bytes against TensorFlow's own reader and protobuf;
shard file writes."""

import errno
import fcntl
import hashlib
import os

import pytest

from resnext import atomic
from resnext.compat import tf
from resnext.data import example, tfrecord
from support.tfrecords import iter_records

SLIM_FEATURES = {
    "image/encoded": b"\xff\xd8" + bytes(range(256)) * 3,
    "image/format": b"JPEG",
    "image/colorspace": b"RGB",
    "image/channels": 3,
    "image/height": 375,
    "image/width": 500,
    "image/filename": b"n0_1.JPEG",
    "image/class/label": 417,
    "image/class/synset": b"n02119789",
    "image/class/text": b"kit fox, Vulpes macrotis",
    "image/object/bbox/xmin": example.floats([0.25, 0.0]),
    "image/object/bbox/ymin": example.floats([0.5, 0.1]),
    "image/object/bbox/xmax": example.floats([1.0, 0.3]),
    "image/object/bbox/ymax": example.floats([0.75, 0.2]),
    "image/object/bbox/label": example.ints([417, 417]),
}


def _tf_example(features):
    feature = {}
    for name, value in features.items():
        if isinstance(value, example.floats):
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=list(value)))
        elif isinstance(value, (example.ints, int)):
            ints = list(value) if isinstance(value, example.ints) else [value]
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=ints))
        else:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def _read_with_tf(path):
    """Every record via tf.data (which verifies both checksums of each frame)."""
    with tf.Graph().as_default():
        nxt = tf.data.make_one_shot_iterator(tf.data.TFRecordDataset([path])).get_next()
        out = []
        with tf.Session() as sess:
            while True:
                try:
                    out.append(sess.run(nxt))
                except tf.errors.OutOfRangeError:
                    return out


def test_crc32c_known_value_in_both_implementations():
    assert tfrecord.crc32c_python(b"123456789") == 0xE3069283 == tfrecord.crc32c(b"123456789")
    data = os.urandom(3000)
    assert tfrecord.crc32c_python(data) == tfrecord.crc32c(data)


@pytest.mark.parametrize("fast", [True, False])
def test_shards_read_back_through_tensorflow(tmp_path, monkeypatch, fast):
    if not fast:
        monkeypatch.setattr(tfrecord, "_fast_crc", None)
    records = [os.urandom(n) for n in (0, 1, 500, 70000)]
    path = str(tmp_path / "shard")
    count, digest = tfrecord.write_records(path, records)
    assert count == 4 and digest == atomic.sha256_file(path)
    assert _read_with_tf(path) == records
    assert list(iter_records(path, verify=True)) == records
    assert tfrecord.check_file(path, expected=4) == 4
    assert os.listdir(str(tmp_path)) == ["shard"]  # no temp file left


class OsWith:
    """The os module as tfrecord sees it, with some of its functions replaced."""

    def __init__(self, **replaced):
        self._replaced = replaced

    def __getattr__(self, name):
        return self._replaced.get(name) or getattr(os, name)


def _refuse_o_direct_open(path, flags, *args):
    if flags & os.O_DIRECT:
        raise OSError(errno.EINVAL, "Invalid argument")
    return os.open(path, flags, *args)


def _refuse_o_direct_write(fd, data):
    if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
        raise OSError(errno.EINVAL, "Invalid argument")
    return os.write(fd, data)


@pytest.mark.parametrize("refuse", [None, "open", "write"])
def test_records_across_chunks_make_the_same_file_with_or_without_o_direct(
    tmp_path, monkeypatch, refuse
):
    monkeypatch.setattr(tfrecord, "CHUNK_BYTES", 2 * tfrecord.BLOCK)  # records straddle chunks
    if refuse:
        monkeypatch.setattr(
            tfrecord, "os", OsWith(**{refuse: globals()["_refuse_o_direct_" + refuse]})
        )
    records = [os.urandom(n) for n in (0, 5, 8192 - 16, 8192, 20000, 3, 4096 * 5 + 7)]
    path = str(tmp_path / "shard")
    count, digest = tfrecord.write_records(path, records)
    expected = b"".join(tfrecord.frame(r) for r in records)
    assert open(path, "rb").read() == expected and digest == hashlib.sha256(expected).hexdigest()
    assert count == len(records) and os.listdir(str(tmp_path)) == ["shard"]


@pytest.mark.parametrize("call", ["write", "fsync"])
def test_a_failed_shard_write_names_the_shard_and_leaves_no_temp_file(tmp_path, monkeypatch, call):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tfrecord, "os", OsWith(**{call: full}))
    path = str(tmp_path / "shard")
    with pytest.raises(OSError) as failure:
        tfrecord.write_records(path, [b"x" * 10000] * 3)
    assert failure.value.errno == errno.ENOSPC and failure.value.filename == path
    assert os.listdir(str(tmp_path)) == []


def test_check_file_names_the_file_for_every_kind_of_damage(tmp_path):
    path = str(tmp_path / "shard")
    tfrecord.write_records(path, [b"x" * 100] * 5)
    whole = open(path, "rb").read()
    frame = len(whole) // 5
    cases = {
        "mid": whole[:-50],
        "header": whole[: frame + 5],
        "boundary": whole[: 3 * frame],
        "garbage": b"\x07" * 40 + whole,
    }
    for name, data in cases.items():
        bad = str(tmp_path / name)
        open(bad, "wb").write(data)
        with pytest.raises(tfrecord.CorruptRecordError, match=bad):
            tfrecord.check_file(bad, expected=5)
    assert tfrecord.check_file(str(tmp_path / "boundary")) == 3  # only the expected count can tell
    flipped = bytearray(whole)
    flipped[frame + 40] ^= 0xFF
    open(path, "wb").write(bytes(flipped))
    assert tfrecord.check_file(path, 5) == 5  # headers intact: data is checked when read
    with pytest.raises(
        tfrecord.CorruptRecordError, match="corrupt record data at offset %d" % frame
    ):
        list(iter_records(path, verify=True))


def test_example_bytes_equal_protobuf_for_the_slim_keys():
    ours = example.example_bytes(SLIM_FEATURES)
    assert ours == _tf_example(SLIM_FEATURES).SerializeToString(deterministic=True)
    parsed = tf.train.Example.FromString(ours).features.feature
    assert list(parsed["image/object/bbox/xmin"].float_list.value) == [0.25, 0.0]
    assert parsed["image/class/label"].int64_list.value == [417]
    others = example.example_bytes(
        {"a": example.floats(), "b": example.ints(), "c": -5, "d": 2.5, "e": b""}
    )
    parsed = tf.train.Example.FromString(others).features.feature
    assert parsed["c"].int64_list.value == [-5] and parsed["d"].float_list.value == [2.5]
    assert list(parsed["a"].float_list.value) == [] and parsed["a"].HasField("float_list")


def test_example_values_must_have_one_type():
    with pytest.raises(TypeError, match="empty list needs a type"):
        example.example_bytes({"x": []})
    with pytest.raises(TypeError, match="all bytes, all int or all float"):
        example.example_bytes({"x": [1, b"a"]})


@pytest.mark.parametrize(
    "boxes", [[], [("n02119789", 0.25, 0.5, 1.0, 0.75), ("n0", 0.0, 0.1, 0.3, 0.2)]]
)
def test_slim_records_equal_the_generic_encoder(boxes):
    from resnext.data import images, shardwriter, sources

    item = sources.Item(
        "/t/n02119789/n0_1.JPEG", 1, 0, 417, "n02119789", "kit fox, Vulpes macrotis", "", ()
    )
    checked = images.Checked(SLIM_FEATURES["image/encoded"], 375, 500, None, None)
    chunks, size = shardwriter.SlimRecords().parts(item, checked, boxes, {"n02119789": 417})
    features = dict(SLIM_FEATURES)
    for i, key in enumerate(("xmin", "ymin", "xmax", "ymax"), 1):
        features["image/object/bbox/" + key] = example.floats(b[i] for b in boxes)
    features["image/object/bbox/label"] = example.ints([417] * len(boxes))
    assert b"".join(chunks) == example.example_bytes(features) and size == len(b"".join(chunks))
    assert chunks[1] is checked.data  # the image bytes are passed through, not copied
