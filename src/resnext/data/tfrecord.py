"""TFRecord files without a TensorFlow session: build shards in memory, write them atomically, check them.

A TFRecord file is a sequence of frames: uint64 little-endian length, uint32 masked CRC-32C of the
length, `length` bytes of data, uint32 masked CRC-32C of the data. `ShardBuilder` frames records
in memory (hashing as it goes) and writes the file once through `resnext.atomic`; `check_file`
walks only the headers (one small read per record) to prove a file is whole before tf.data reads
it, because TensorFlow's reader takes a file cut short at a record boundary or mid-record for a
clean end of file. CRC-32C comes from the `google_crc32c` C extension when installed, else from a
table in plain Python (correct, but ~1,000x slower on record data; headers are 8 bytes either way).
Runs in the Ascend container too: Python 3.7 syntax, no TensorFlow.
"""
import hashlib
import io
import mmap
import os
import struct

from resnext import atomic

try:  # host: the C implementation (requirements pin); the container may lack it
    import google_crc32c as _fast_crc
except ImportError:  # pragma: no cover - depends on the environment
    _fast_crc = None

_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
HEADER_BYTES = 12  # length + masked crc of the length
FOOTER_BYTES = 4  # masked crc of the data
_MASK_DELTA = 0xA282EAD8
_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


class CorruptRecordError(ValueError):
    """A TFRecord file whose framing is cut short or inconsistent; the message names the file."""


def _table():
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _table()


def crc32c_python(data, crc=0):
    """CRC-32C of `data` in plain Python (reference and fallback); `crc` continues an earlier value."""
    crc ^= 0xFFFFFFFF
    table = _TABLE
    for byte in bytearray(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32c(data, crc=0):
    """CRC-32C of `data` (bytes-like), continuing `crc`; the C extension when available."""
    if _fast_crc is not None:
        return _fast_crc.extend(crc, bytes(data))
    return crc32c_python(data, crc)


def _mask(crc):
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc(data):
    """TFRecord's masked CRC-32C: rotate right by 15 bits, add a constant (mod 2**32)."""
    return _mask(crc32c(data))


def frame_parts(chunks, length):
    """TFRecord frame of a record given as chunks (their concatenation, `length` bytes long).

    Returns [header] + chunks + [footer]: the chunks are checksummed but not copied.
    """
    length_bytes = _LENGTH.pack(length)
    crc = 0
    for chunk in chunks:
        crc = crc32c(chunk, crc)
    header, footer = length_bytes + _CRC.pack(masked_crc(length_bytes)), _CRC.pack(_mask(crc))
    if len(chunks) > 1 and len(chunks[0]) < 4096 and len(chunks[-1]) < 4096:  # small ends absorb header, footer
        return [header + chunks[0]] + list(chunks[1:-1]) + [chunks[-1] + footer]
    return [header] + list(chunks) + [footer]


def frame(record):
    """One record (bytes) -> its TFRecord frame (header + data + footer)."""
    return b"".join(frame_parts([record], len(record)))


class Arena(object):
    """A growable anonymous memory map that one worker reuses for shard after shard.

    Anonymous pages start as zero without being written, and stay mapped between shards, so
    building a shard costs one copy of its bytes and no zero-filling or re-faulting of the buffer.
    """

    def __init__(self):
        self.memory = None
        self.size = 0

    def reserve(self, size, keep=0):
        """Make room for `size` bytes, keeping the first `keep` bytes."""
        if size <= self.size:
            return
        grown = mmap.mmap(-1, max(size, 1 << 20))
        if keep:
            grown[:keep] = self.memory[:keep]
        if self.memory is not None:
            self.memory.close()
        self.memory, self.size = grown, len(grown)


class ShardBuilder(object):
    """Frames the records of one shard into memory; `write(path)` stores them atomically.

    Records arrive as chunks (example.example_parts), are checksummed and hashed while still in
    the CPU cache, and copied once, into the Arena; `reserve` (bytes expected) sizes it up front.
    """

    def __init__(self, arena=None, reserve=0):
        self._arena = arena if arena is not None else Arena()
        self._arena.reserve(reserve)
        self._digest = hashlib.sha256()
        self._used = 0
        self.num_records = 0

    def _append(self, part):
        end = self._used + len(part)
        if end > self._arena.size:
            self._arena.reserve(max(end, 2 * self._arena.size), keep=self._used)
        self._arena.memory[self._used:end] = part
        self._digest.update(part)
        self._used = end

    def add(self, record):
        self.add_parts([record], len(record))

    def add_parts(self, chunks, length):
        """Add one record given as chunks of `length` bytes in all."""
        for part in frame_parts(chunks, length):
            self._append(part)
        self.num_records += 1

    def entry(self):
        """{num_records, sha256, bytes} of the shard as built so far."""
        return {"num_records": self.num_records, "sha256": self._digest.hexdigest(), "bytes": self._used}

    def write(self, path):
        """Write the shard to `path` atomically (write, fsync, rename); returns entry()."""
        data = memoryview(self._arena.memory)[:self._used] if self._used else memoryview(b"")
        try:
            atomic.write_bytes(path, data)
        finally:
            data.release()  # the arena may grow (be remapped) for a later shard
        return self.entry()


def write_records(path, records):
    """Write serialised records (iterable of bytes) as one TFRecord file, atomically.

    Returns (num_records, sha256 hex of the file). The file appears complete or not at all.
    """
    builder = ShardBuilder()
    for record in records:
        builder.add(record)
    entry = builder.write(path)
    return entry["num_records"], entry["sha256"]


def _read_header(fd, path, offset, size):
    """Length of the record whose frame starts at `offset`; raises CorruptRecordError naming path."""
    header = os.pread(fd, HEADER_BYTES, offset)
    if len(header) < HEADER_BYTES:
        raise CorruptRecordError("%s: truncated: %d bytes at offset %d are not a whole record header "
                                 "(file size %d)" % (path, len(header), offset, size))
    length_bytes, crc = header[:8], _CRC.unpack(header[8:])[0]
    if masked_crc(length_bytes) != crc:
        raise CorruptRecordError("%s: corrupt record header at offset %d (length checksum mismatch); "
                                 "not a TFRecord file, or damaged" % (path, offset))
    return _LENGTH.unpack(length_bytes)[0]


def check_file(path, expected=None):
    """Walk the frames of one TFRecord file; return its record count.

    Reads 12 bytes per record (headers only, length checksums verified) and checks that the last
    frame ends exactly at the end of the file. With `expected` (e.g. the manifest's num_records)
    the count must match too. Raises CorruptRecordError naming the file and the offset.
    """
    size = os.path.getsize(path)
    count, offset = 0, 0
    with io.open(path, "rb") as f:
        fd = f.fileno()
        if hasattr(os, "posix_fadvise"):  # headers only: no read-ahead of the records between them
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        while offset < size:
            length = _read_header(fd, path, offset, size)
            end = offset + HEADER_BYTES + length + FOOTER_BYTES
            if end > size:
                raise CorruptRecordError("%s: truncated: record %d at offset %d needs %d bytes, the file "
                                         "ends after %d" % (path, count, offset, end - offset, size - offset))
            count, offset = count + 1, end
    if expected is not None and count != expected:
        raise CorruptRecordError("%s: %d records, the manifest says %d (file cut at a record boundary, "
                                 "or replaced)" % (path, count, expected))
    return count


def count_records(path):
    """Number of records in one TFRecord file (headers only; CorruptRecordError if damaged)."""
    return check_file(path)


def iter_records(path, verify=False):
    """Yield the payload (bytes) of every record in the TFRecord file at `path`, in order.

    verify=True also checks every data checksum (CorruptRecordError naming file and offset).
    """
    offset = 0
    with io.open(path, "rb") as f:
        while True:
            header = f.read(HEADER_BYTES)
            if not header:
                return
            if len(header) < HEADER_BYTES or masked_crc(header[:8]) != _CRC.unpack(header[8:])[0]:
                raise CorruptRecordError("%s: truncated or corrupt record header at offset %d" % (path, offset))
            length = _LENGTH.unpack(header[:8])[0]
            data, footer = f.read(length), f.read(FOOTER_BYTES)
            if len(data) < length or len(footer) < FOOTER_BYTES:
                raise CorruptRecordError("%s: truncated record at offset %d (%d bytes expected)"
                                         % (path, offset, length))
            if verify and masked_crc(data) != _CRC.unpack(footer)[0]:
                raise CorruptRecordError("%s: corrupt record data at offset %d (checksum mismatch)" % (path, offset))
            offset += HEADER_BYTES + length + FOOTER_BYTES
            yield data


def sha256_file(path, chunk=1 << 20):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with io.open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
