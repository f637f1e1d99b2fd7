"""tf.train.Example serialisation in plain Python, so conversion workers never import TensorFlow.

Features are written in bytewise-sorted key order (as C++ protobuf's deterministic mode), so equal
inputs give equal bytes in every process; BytesList values are length-delimited fields, Int64List
and FloatList values packed. For the TF-slim keys (none is a prefix of another) the bytes equal
`tf.train.Example(...).SerializeToString(deterministic=True)` (tests compare the two). Values are
given per feature as bytes, int, float, or a list/tuple of one of those types (an empty list needs
an explicit type: see `floats` / `ints`). `example_parts` returns the serialisation as chunks so
a large value (the JPEG) is never copied on the way. Python 3.7 syntax, no dependencies.
"""

import functools
import struct

_FLOAT = struct.Struct("<f")
# field numbers in tensorflow/core/example/{example,feature}.proto
_BYTES_LIST, _FLOAT_LIST, _INT64_LIST = 1, 2, 3


class _Typed(tuple):
    kind = None


class floats(_Typed):
    """A (possibly empty) list of floats for a FloatList feature."""

    kind = _FLOAT_LIST


class ints(_Typed):
    """A (possibly empty) list of ints for an Int64List feature."""

    kind = _INT64_LIST


_ONE_BYTE = [bytes((i,)) for i in range(128)]


def _varint(value):
    if 0 <= value < 128:
        return _ONE_BYTE[value]
    if 0 < value < 1 << 21:  # every length inside a record of an image under 2 MB: no loop
        low = value & 0x7F | 0x80
        return (
            bytes((low, value >> 7))
            if value < 1 << 14
            else bytes((low, value >> 7 & 0x7F | 0x80, value >> 14))
        )
    value &= (1 << 64) - 1  # negative int64 -> two's complement, ten bytes
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_TAGS = {field: _varint(field << 3 | 2) for field in range(1, 16)}  # length-delimited fields 1..15


def _delimited(field, payload):
    """Length-delimited field (wire type 2)."""
    return b"".join((_TAGS[field], _varint(len(payload)), payload))


@functools.lru_cache(maxsize=4096)
def _key(name):
    return _delimited(1, name.encode("utf-8"))


def _kind_and_values(name, value):
    if isinstance(value, _Typed):
        return value.kind, list(value)
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise TypeError(
            "feature %r: an empty list needs a type: use example.floats() or example.ints()" % name
        )
    if all(isinstance(v, bytes) for v in values):
        return _BYTES_LIST, values
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return _INT64_LIST, values
    if all(isinstance(v, float) for v in values):
        return _FLOAT_LIST, values
    raise TypeError(
        "feature %r: values must be all bytes, all int or all float, got %r" % (name, value)
    )


def _feature_parts(name, value):
    """([chunks], size) of one serialised tf.train.Feature;
    bytes values are chunks of their own (no copy)."""
    kind, values = _kind_and_values(name, value)
    if kind == _BYTES_LIST:
        chunks = []
        for v in values:
            chunks.append(_TAGS[1] + _varint(len(v)))
            chunks.append(v)
    elif kind == _INT64_LIST:
        chunks = [_delimited(1, b"".join(_varint(int(v)) for v in values))] if values else []
    else:
        chunks = [_delimited(1, b"".join(_FLOAT.pack(float(v)) for v in values))] if values else []
    inner = sum(len(c) for c in chunks)
    head = _TAGS[kind] + _varint(inner)
    return [head] + chunks, len(head) + inner


def _merge_small(chunks, large):
    """Join runs of chunks shorter than `large` bytes; longer ones stay as they are (not copied)."""
    out, run = [], []
    for chunk in chunks:
        if len(chunk) < large:
            run.append(chunk)
            continue
        if run:
            out.append(b"".join(run))
            run = []
        out.append(chunk)
    if run:
        out.append(b"".join(run))
    return out


def _entry_parts(name, value):
    """([chunks], size) of one map entry {name: Feature} inside Features."""
    parts, size = _feature_parts(name, value)
    key = _key(name)
    entry = len(key) + len(_TAGS[2]) + len(_varint(size)) + size
    head = b"".join((_TAGS[1], _varint(entry), key, _TAGS[2], _varint(size)))
    return [head] + parts, len(head) + size


def example_parts(features, large=4096):
    """(chunks, size): the serialised tf.train.Example as a few chunks whose concatenation is it.

    Values of `large` bytes or more (the encoded image) are passed through without being copied, so
    a shard writer can checksum and store them once. Features are sorted by name (deterministic).
    """
    chunks, body = [], 0
    for name in sorted(features):
        parts, size = _entry_parts(name, features[name])
        chunks.extend(parts)
        body += size
    outer = example_head(body)
    return _merge_small([outer] + chunks, large), len(outer) + body


def entry_bytes(name, value):
    """One serialised feature-map entry; entries in sorted name order, joined,
    make an Example body."""
    return b"".join(_entry_parts(name, value)[0])


def bytes_entry_prefix(name, length):
    """(prefix, entry size) of the entry {name: one bytes value of `length` bytes}:
    prefix + value = entry."""
    value_head = _TAGS[1] + _varint(length)
    feature_head = _TAGS[_BYTES_LIST] + _varint(len(value_head) + length)
    feature = len(feature_head) + len(value_head) + length
    key, feature_size = _key(name), _varint(feature)
    entry = len(key) + len(_TAGS[2]) + len(feature_size) + feature
    prefix = b"".join(
        (_TAGS[1], _varint(entry), key, _TAGS[2], feature_size, feature_head, value_head)
    )
    return prefix, len(prefix) + length


def example_head(body_size):
    """What precedes a body of entries (`body_size` bytes) in a serialised Example."""
    return _TAGS[1] + _varint(body_size)


def example_bytes(features):
    """Serialise {name: value} as a tf.train.Example (deterministic: features sorted by name)."""
    return b"".join(example_parts(features)[0])
