"""The plain-Python Example reader agrees with protobuf's own parser (tf.train.Example.FromString).

Records from TensorFlow's serialiser, and hand-made encodings a valid writer may produce (unpacked
lists, a map entry's value before its key, a key given twice, unknown fields, two Features
messages), each compared with what protobuf reads from the same bytes.
"""

import struct

import pytest

from resnext.compat import tf
from resnext.data import example
from resnext.data import exampleread as er


def _ours(data):
    """{key: (kind name, values)} read by exampleread (bytes values as bytes)."""
    out = {}
    for key, (kind, parts) in er.read_features(data).items():
        if kind == er.BYTES_LIST:
            values = [data[a:b] for a, b in er.bytes_values(data, parts)]
        elif kind == er.INT64_LIST:
            values = er.int64_values(data, parts)
        elif kind == er.FLOAT_LIST:
            values = er.float_values(data, parts)
        else:
            values = []
        out[key.decode()] = (er.KIND_NAMES[kind], values)
    return out


def _protobuf(data):
    example = tf.train.Example.FromString(data)
    out = {}
    for key, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value) if kind else []
        out[key] = (kind or "no value", values)
    return out


_varint = example._varint  # the writer's (its bytes equal protobuf's: tests/data/test_tfrecord.py)


def _field(number, payload):
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _entry(key, feature, value_first=False):
    parts = [_field(1, key), _field(2, feature)]
    return _field(1, b"".join(parts[::-1] if value_first else parts))


def _example(*entries, extra=b""):
    return _field(1, b"".join(entries)) + extra


def test_tensorflows_own_records_read_the_same():
    feature = {
        "image/encoded": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[bytes(range(256)) * 40])
        ),
        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[615])),
        "neg": tf.train.Feature(int64_list=tf.train.Int64List(value=[-1, 2**62, -(2**63)])),
        "boxes": tf.train.Feature(float_list=tf.train.FloatList(value=[0.25, 0.5])),
        "empty": tf.train.Feature(float_list=tf.train.FloatList(value=[])),
        "two": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"a", b""])),
        "unset": tf.train.Feature(),
    }
    data = tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
    assert _ours(data) == _protobuf(data)
    assert _ours(data)["neg"] == ("int64_list", [-1, 2**62, -(2**63)])


@pytest.mark.parametrize(
    "data",
    [
        # unpacked int64 and float lists (wire types 0 and 5)
        _example(
            _entry(b"i", _field(3, b"\x08\x05\x08\x07")),
            _entry(b"f", _field(2, b"\x0d" + struct.pack("<f", 1.5))),
        ),
        # a map entry's value before its key
        _example(_entry(b"label", _field(3, _field(1, b"\x03")), value_first=True)),
        # the same key twice: the last wins
        _example(
            _entry(b"k", _field(3, _field(1, b"\x01"))), _entry(b"k", _field(1, _field(1, b"x")))
        ),
        # unknown fields in the Example, in Features and in a Feature
        _example(
            _entry(b"k", _field(1, _field(1, b"y")) + b"\x28\x01"),
            extra=b"\x10\x96\x01" + _field(9, b"zz"),
        ),
        # two Features messages: merged
        _example(_entry(b"a", _field(3, _field(1, b"\x01"))))
        + _example(_entry(b"b", _field(1, _field(1, b"q")))),
        # a Feature holding two lists of one kind (merged), then of another (replaces)
        _example(_entry(b"m", _field(1, _field(1, b"p")) + _field(1, _field(1, b"q")))),
        _example(_entry(b"r", _field(1, _field(1, b"p")) + _field(3, _field(1, b"\x02")))),
        b"",
    ],
)
def test_hand_made_encodings_read_as_protobuf_reads_them(data):
    assert _ours(data) == _protobuf(data)


@pytest.mark.parametrize(
    "data",
    [
        _example(_entry(b"k", _field(1, _field(1, b"abc"))))[:-1],  # cut short
        b"\x0a\xff\xff\xff\xff\x0f",  # a length far past the end
        b"\x0b",  # a group start (wire type 3)
        b"\x0a\x02\x00\x00",  # field number 0 inside Features
    ],
)
def test_malformed_bytes_are_refused_as_protobuf_refuses_them(data):
    with pytest.raises(er.DecodeError):
        er.read_features(data)
    with pytest.raises(Exception):
        tf.train.Example.FromString(data)
