"""TFRecord files without a TensorFlow session: frame records in memory, write files atomically,
check them.

A TFRecord file is a sequence of frames: uint64 little-endian length, uint32 masked CRC-32C of the
length, `length` bytes of data, uint32 masked CRC-32C of the data. `RecordChunks` frames records
into large page-aligned buffers (hashing them on the way); `ShardFile` writes those to a temp file
(O_DIRECT where it can), fsyncs it and renames it into place. `check_file` walks only the
headers (one small read per record) to prove a file is whole before tf.data reads it, because
TensorFlow's reader takes a file cut short at a record boundary or mid-record for a clean end of
file. CRC-32C comes from the `google_crc32c` C extension when installed, else from a table in plain
Python (correct, but ~1,000x slower on record data; headers are 8 bytes either way).
Runs in the Ascend container too: Python 3.7 syntax, no TensorFlow.
"""

import errno
import fcntl
import hashlib
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
BLOCK = (
    4096  # O_DIRECT alignment of offsets, lengths and buffers (a multiple of any device's sector)
)
CHUNK_BYTES = (
    1 << 20
)  # bytes per shard write: large enough that syscalls do not count, a multiple of BLOCK
DIRECT_IO = True  # False: every shard write goes through the page cache
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
    """CRC-32C of `data` in plain Python (reference and fallback);
    `crc` continues an earlier value."""
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


def unpack_length(header8):
    """The record length held in the first 8 bytes of a frame header."""
    return _LENGTH.unpack(header8)[0]


def unpack_crc(crc4):
    """The uint32 of a frame's 4-byte masked checksum field."""
    return _CRC.unpack(crc4)[0]


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
    header, footer = length_bytes + _CRC.pack(_mask(crc32c(length_bytes))), _CRC.pack(_mask(crc))
    if (
        len(chunks) > 1 and len(chunks[0]) < 4096 and len(chunks[-1]) < 4096
    ):  # small ends absorb header, footer
        return [header + chunks[0], *chunks[1:-1], chunks[-1] + footer]
    return [header, *chunks, footer]


def frame(record):
    """One record (bytes) -> its TFRecord frame (header + data + footer)."""
    return b"".join(frame_parts([record], len(record)))


def new_buffer():
    """An empty chunk buffer for RecordChunks: CHUNK_BYTES of page-aligned memory,
    as O_DIRECT needs."""
    return mmap.mmap(-1, CHUNK_BYTES)


class RecordChunks:
    """Frames records into chunk buffers: `take()` gives an empty one,
    `emit(buffer, used)` gets it back full.

    Each record is checksummed and hashed where its bytes already are, still in this core's cache
    (the JPEG was just read and decoded), and copied once, into the buffer. Every buffer of a file
    is emitted full (CHUNK_BYTES, whole blocks for ShardFile) except the last, which close() emits
    however full it is.
    """

    def __init__(self, take, emit):
        self._take, self._emit = take, emit
        self._buffer, self._used = take(), 0
        self._digest, self._bytes, self._records = hashlib.sha256(), 0, 0

    def add(self, chunks, length):
        """Add one record given as chunks (bytes) of `length` bytes in all."""
        update, buffer, used = self._digest.update, self._buffer, self._used
        for part in frame_parts(chunks, length):
            update(part)
            end = used + len(part)
            if end <= CHUNK_BYTES:
                buffer[used:end] = part
                used = end
            else:
                self._used = used
                self._spill(part)
                buffer, used = self._buffer, self._used
        self._used = used
        self._bytes += length + HEADER_BYTES + FOOTER_BYTES
        self._records += 1

    def _spill(self, part):
        """Copy a part that does not fit the current buffer, emitting each buffer it fills."""
        view, done = memoryview(part), 0
        while done < len(view):
            if self._used == CHUNK_BYTES:
                self._emit(self._buffer, self._used)
                self._buffer, self._used = self._take(), 0
            n = min(CHUNK_BYTES - self._used, len(view) - done)
            self._buffer[self._used : self._used + n] = view[done : done + n]
            self._used, done = self._used + n, done + n
        view.release()

    def close(self):
        """Emit the last buffer (possibly empty); returns
        {num_records, sha256, bytes} of all records."""
        self._emit(self._buffer, self._used)
        self._buffer = None
        return {
            "num_records": self._records,
            "sha256": self._digest.hexdigest(),
            "bytes": self._bytes,
        }


def _open_direct(path):
    """(fd, direct): `path` created for writing, with O_DIRECT when enabled and the file
    system takes it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    if DIRECT_IO and hasattr(os, "O_DIRECT"):
        try:
            return atomic.open_in_place(path, flags | os.O_DIRECT, 0o666), True
        except OSError as exc:
            if (
                exc.errno != errno.EINVAL
            ):  # EINVAL: no O_DIRECT here (some tmpfs, FUSE); anything else is real
                raise
    return atomic.open_in_place(path, flags, 0o666), False


class ShardFile:
    """A file written as `<path>.tmp-<pid>` in large chunks,
    then fsynced and renamed to `path` by commit().

    Whole blocks go out with O_DIRECT where the file system takes it: copying shards into the page
    cache costs the writing process about three times the CPU time (measured on ext4), and a shard
    is not read back soon. The last partial block, and every write where O_DIRECT is refused, goes
    through the page cache. An OSError names `path` (not the temp file), and a failed file leaves no
    temp file; one left by a killed process is removed by the next conversion.
    """

    def __init__(self, path):
        self.path, self._tmp = path, atomic.tmp_name(path)
        self._fd, self._direct = None, False
        atomic.make_parent(path)
        try:
            self._fd, self._direct = _open_direct(self._tmp)
        except atomic.UnsafeFile:
            raise  # a link (or another file's name) at our temp name: not ours to remove
        except BaseException as exc:
            atomic.remove_quietly(self._tmp)
            if isinstance(exc, OSError):
                atomic.name_the_file(exc, self.path, self._tmp)
            raise

    def _guard(self, function, *args):
        try:
            return function(*args)
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                atomic.name_the_file(exc, self.path, self._tmp)
            raise

    def write(self, data):
        """Append `data` (bytes-like, one chunk); only a file's last chunk may end mid-block."""
        self._guard(self._write, memoryview(data))

    def _write(self, view):
        whole = len(view) - len(view) % BLOCK if self._direct else 0
        self._write_all(view[:whole])
        if whole < len(view):
            self._buffered()
            self._write_all(view[whole:])

    def _buffered(self):
        if self._direct:
            fcntl.fcntl(
                self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~os.O_DIRECT
            )
            self._direct = False

    def _write_all(self, view):
        while len(view):
            try:
                written = os.write(self._fd, view)
            except OSError as exc:
                if exc.errno != errno.EINVAL or not self._direct:
                    raise
                self._buffered()  # opened with O_DIRECT, but the file system refuses the write
                continue
            view = view[written:]
            if written % BLOCK:
                self._buffered()  # a short write left the offset mid-block

    def commit(self):
        """fsync the file and rename it into place."""
        self._guard(self._commit)

    def _commit(self):
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        os.replace(self._tmp, self.path)

    def abort(self):
        """Close and remove the temp file (quietly: an error of its own must not hide the first
        one)."""
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                os.close(fd)
        except OSError:
            pass
        atomic.remove_quietly(self._tmp)


def write_records(path, records):
    """Write serialised records (iterable of bytes) as one TFRecord file, atomically.

    Returns (num_records, sha256 hex of the file). The file appears complete or not at all.
    """
    shard, buffer = ShardFile(path), new_buffer()

    def emit(full, used):
        shard.write(memoryview(full)[:used])

    try:
        chunks = RecordChunks(lambda: buffer, emit)
        for record in records:
            chunks.add([record], len(record))
        entry = chunks.close()
    except BaseException:
        shard.abort()
        raise
    shard.commit()
    return entry["num_records"], entry["sha256"]


def _read_header(fd, path, offset, size):
    """Length of the record whose frame starts at `offset`;
    raises CorruptRecordError naming path."""
    header = os.pread(fd, HEADER_BYTES, offset)
    if len(header) < HEADER_BYTES:
        raise CorruptRecordError(
            "%s: truncated: %d bytes at offset %d are not a whole record header "
            "(file size %d)" % (path, len(header), offset, size)
        )
    length_bytes, crc = header[:8], _CRC.unpack(header[8:])[0]
    if masked_crc(length_bytes) != crc:
        raise CorruptRecordError(
            "%s: corrupt record header at offset %d (length checksum mismatch); "
            "not a TFRecord file, or damaged" % (path, offset)
        )
    return _LENGTH.unpack(length_bytes)[0]


def check_file(path, expected=None):
    """Walk the frames of one TFRecord file; return its record count.

    Reads 12 bytes per record (headers only, length checksums verified) and checks that the last
    frame ends exactly at the end of the file. With `expected` (e.g. the manifest's num_records)
    the count must match too. Raises CorruptRecordError naming the file and the offset.
    """
    size = os.path.getsize(path)
    count, offset = 0, 0
    with open(path, "rb") as f:
        fd = f.fileno()
        if hasattr(os, "posix_fadvise"):  # headers only: no read-ahead of the records between them
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        while offset < size:
            length = _read_header(fd, path, offset, size)
            end = offset + HEADER_BYTES + length + FOOTER_BYTES
            if end > size:
                raise CorruptRecordError(
                    "%s: truncated: record %d at offset %d needs %d bytes, the file "
                    "ends after %d" % (path, count, offset, end - offset, size - offset)
                )
            count, offset = count + 1, end
    if expected is not None and count != expected:
        raise CorruptRecordError(
            "%s: %d records, the manifest says %d (file cut at a record boundary, "
            "or replaced)" % (path, count, expected)
        )
    return count
