"""TFRecord files without a TensorFlow session: write shards atomically, count and read records.

A TFRecord file is a sequence of frames: uint64 little-endian length, uint32 masked CRC-32C of
the length, `length` bytes of data, uint32 masked CRC-32C of the data. Reading and counting only
need the lengths, so they are plain Python; writing uses `tf.io.TFRecordWriter` (it computes the
CRCs) into a temporary file whose bytes then go through `resnext.atomic`.
Runs in the Ascend container too: Python 3.7 syntax, TF 1.15 API, TensorFlow imported lazily.
"""
import hashlib
import io
import os
import struct

from resnext import atomic

_HEADER = struct.Struct("<QI")  # length, masked crc of the length
_FOOTER_BYTES = 4  # masked crc of the data


class CorruptRecordError(ValueError):
    """A TFRecord file whose framing is cut short or inconsistent."""


def iter_records(path):
    """Yield the payload (bytes) of every record in the TFRecord file at `path`, in order."""
    with io.open(path, "rb") as f:
        while True:
            header = f.read(_HEADER.size)
            if not header:
                return
            if len(header) < _HEADER.size:
                raise CorruptRecordError("%s: truncated record header" % path)
            length = _HEADER.unpack(header)[0]
            data = f.read(length)
            if len(data) < length or len(f.read(_FOOTER_BYTES)) < _FOOTER_BYTES:
                raise CorruptRecordError("%s: truncated record (%d bytes expected)" % (path, length))
            yield data


def count_records(path):
    """Number of records in one TFRecord file (reads only the headers; seeks over the data)."""
    count = 0
    size = os.path.getsize(path)
    with io.open(path, "rb") as f:
        while f.tell() < size:
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                raise CorruptRecordError("%s: truncated record header" % path)
            length = _HEADER.unpack(header)[0]
            end = f.seek(length + _FOOTER_BYTES, io.SEEK_CUR)
            if end > size:
                raise CorruptRecordError("%s: truncated record (%d bytes expected)" % (path, length))
            count += 1
    return count


def sha256_file(path, chunk=1 << 20):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with io.open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def example_bytes(features):
    """Serialise a tf.train.Example from {name: bytes | int}: bytes -> BytesList, int -> Int64List.

    Map entries are written in sorted key order (deterministic=True), so equal inputs give equal
    bytes in every process (protobuf map order otherwise varies with the process hash seed).
    """
    import tensorflow as tf  # lazy: only the writer needs TensorFlow
    feature = {}
    for name, value in features.items():
        if isinstance(value, bytes):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        elif isinstance(value, int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            raise TypeError("feature %r: expected bytes or int, got %s" % (name, type(value).__name__))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def write_records(path, records):
    """Write serialised records (iterable of bytes) as one TFRecord file, atomically.

    Returns (num_records, sha256 hex of the file). The file appears complete or not at all.
    """
    import tensorflow as tf  # lazy: only the writer needs TensorFlow
    tmp = "%s.frames-%d" % (path, os.getpid())
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        os.makedirs(folder, exist_ok=True)
    count = 0
    try:
        with tf.io.TFRecordWriter(tmp) as writer:
            for record in records:
                writer.write(record)
                count += 1
        with io.open(tmp, "rb") as f:
            data = f.read()
        atomic.write_bytes(path, data)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return count, hashlib.sha256(data).hexdigest()
