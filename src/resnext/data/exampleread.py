"""Read a serialised tf.train.Example in plain Python: where each feature's values are, not copies.

The indexer reads every record of shards someone else wrote, so this follows protobuf's parsing
rules rather than our writer's habits: fields in any order, a map entry's value before its key,
unknown fields skipped, a repeated Features or map entry merged (the last value of a key wins, as
in protobuf maps), int64 and float lists packed or not, a oneof's last kind winning. Values are
returned as (start, stop) offsets into the record, so the encoded image is never copied.
Field numbers: tensorflow/core/example/{example,feature}.proto. Python 3.7 syntax, no dependencies.
"""

import struct

BYTES_LIST, FLOAT_LIST, INT64_LIST = 1, 2, 3
KIND_NAMES = {
    BYTES_LIST: "bytes_list",
    FLOAT_LIST: "float_list",
    INT64_LIST: "int64_list",
    None: "no value",
}
_FLOAT = struct.Struct("<f")
_INT64_MAX = 1 << 63


class DecodeError(ValueError):
    """Bytes that are not a serialised tf.train.Example; the message says what is wrong."""


def _varint(data, pos, end):
    """(value, next position) of the varint at data[pos]; DecodeError when cut short or too long."""
    result, shift = 0, 0
    while pos < end:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("a varint longer than 10 bytes")
    raise DecodeError("a varint cut short by the end of its message")


def _delimited(data, pos, end):
    """(start, stop) of the length-delimited value whose length varint is at data[pos]."""
    length = data[pos] if pos < end else 0x80
    if length < 0x80:
        pos += 1
    else:
        length, pos = _varint(data, pos, end)
    stop = pos + length
    if stop > end:
        raise DecodeError("a field of %d bytes runs past the end of its message" % length)
    return pos, stop


def _skip(data, pos, end, tag):
    """Position after the value of an unknown field with this tag."""
    wire = tag & 7
    if tag >> 3 == 0:
        raise DecodeError("field number 0")
    if wire == 0:
        return _varint(data, pos, end)[1]
    if wire == 2:
        return _delimited(data, pos, end)[1]
    width = {1: 8, 5: 4}.get(wire)
    if width is None:
        raise DecodeError("wire type %d (groups are not used by tf.train.Example)" % wire)
    if pos + width > end:
        raise DecodeError("a fixed-width field cut short by the end of its message")
    return pos + width


def _tag(data, pos, end):
    tag = data[pos]
    if tag < 0x80:
        return tag, pos + 1
    return _varint(data, pos, end)


def read_features(data):
    """{key (bytes): (kind, [(start, stop) of each list message])} of one serialised Example.

    kind is BYTES_LIST, FLOAT_LIST, INT64_LIST or None (a Feature with no value set). Raises
    DecodeError when `data` (bytes) is not a well-formed Example.
    """
    features, pos, end = {}, 0, len(data)
    while pos < end:
        tag, pos = _tag(data, pos, end)
        if tag == 0x0A:  # Example.features
            start, pos = _delimited(data, pos, end)
            _read_map(data, start, pos, features)
        else:
            pos = _skip(data, pos, end, tag)
    return features


def _read_map(data, pos, end, features):
    while pos < end:
        tag, pos = _tag(data, pos, end)
        if tag != 0x0A:  # Features.feature (a map entry)
            pos = _skip(data, pos, end, tag)
            continue
        start, pos = _delimited(data, pos, end)
        entry = _canonical_entry(data, start, pos)
        if entry is None:
            entry = _read_entry(data, start, pos)
        features[entry[0]] = entry[1]


def _canonical_entry(data, pos, end):
    """(key, (kind, parts)) of an entry laid out as every writer does (a short key, then a value
    holding one list), else None; ~60% of the general _read_entry's time, ~15 entries a record."""
    if end - pos < 4 or data[pos] != 0x0A or data[pos + 1] >= 0x80:
        return None
    key_stop = pos + 2 + data[pos + 1]
    if key_stop + 2 > end or data[key_stop] != 0x12:
        return None
    start, stop = _delimited(data, key_stop + 1, end)
    if stop != end or start == stop or data[start] not in (0x0A, 0x12, 0x1A):
        return None
    list_start, list_stop = _delimited(data, start + 1, stop)
    if list_stop != stop:
        return None
    return data[pos + 2 : key_stop], (data[start] >> 3, [(list_start, list_stop)])


def _read_entry(data, pos, end):
    key, kind, parts = b"", None, []
    while pos < end:
        tag, pos = _tag(data, pos, end)
        if tag == 0x0A:
            start, pos = _delimited(data, pos, end)
            key = data[start:pos]
        elif tag == 0x12:
            start, pos = _delimited(data, pos, end)
            kind, parts = _read_feature(data, start, pos, kind, parts)
        else:
            pos = _skip(data, pos, end, tag)
    return key, (kind, parts)


def _read_feature(data, pos, end, kind, parts):
    """The oneof of one Feature: a list of another kind replaces the one so far, one of the same
    kind is merged into it."""
    while pos < end:
        tag, pos = _tag(data, pos, end)
        field = tag >> 3
        if tag & 7 == 2 and field in KIND_NAMES:
            start, pos = _delimited(data, pos, end)
            if field != kind:
                kind, parts = field, []
            parts.append((start, pos))
        else:
            pos = _skip(data, pos, end, tag)
    return kind, parts


def bytes_values(data, parts):
    """[(start, stop)] of every value of a BytesList given by its parts."""
    values = []
    for pos, end in parts:
        while pos < end:
            tag, pos = _tag(data, pos, end)
            if tag == 0x0A:
                start, pos = _delimited(data, pos, end)
                values.append((start, pos))
            else:
                pos = _skip(data, pos, end, tag)
    return values


def int64_values(data, parts):
    """[int] of an Int64List given by its parts (packed or not; two's complement -> signed)."""
    values = []
    for pos, end in parts:
        while pos < end:
            tag, pos = _tag(data, pos, end)
            if tag == 0x0A:  # packed
                start, stop = _delimited(data, pos, end)
                pos = start
                while pos < stop:
                    value, pos = _varint(data, pos, stop)
                    values.append(value)
                pos = stop
            elif tag == 0x08:
                value, pos = _varint(data, pos, end)
                values.append(value)
            else:
                pos = _skip(data, pos, end, tag)
    return [v - (1 << 64) if v >= _INT64_MAX else v for v in values]


def float_values(data, parts):
    """[float] of a FloatList given by its parts (packed or not)."""
    values = []
    for pos, end in parts:
        while pos < end:
            tag, pos = _tag(data, pos, end)
            if tag == 0x0A:  # packed
                start, pos = _delimited(data, pos, end)
                if (pos - start) % 4:
                    raise DecodeError(
                        "a packed float list of %d bytes (not a multiple of 4)" % (pos - start)
                    )
                values.extend(v[0] for v in _FLOAT.iter_unpack(data[start:pos]))
            elif tag == 0x0D:
                if pos + 4 > end:
                    raise DecodeError("a float cut short by the end of its message")
                values.append(_FLOAT.unpack_from(data, pos)[0])
                pos += 4
            else:
                pos = _skip(data, pos, end, tag)
    return values
