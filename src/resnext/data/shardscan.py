"""Read every record of a TFRecord file once: framing and both CRC-32Cs checked, sha256 of the file.

`ShardScan(path)` yields (record index, byte offset, record bytes). Each byte is read once, in
chunks, and those same chunks feed both checks: a hashing thread takes every chunk as it is read
(hashlib releases the GIL on large buffers, so on two cores SHA-256 runs beside the framing, the
CRCs and the caller's parsing), and each record's checksum is taken over its bytes cut from the
chunk. A frame that is cut short, whose length or data checksum does not match, or whose length
runs past the end of the file raises tfrecord.CorruptRecordError naming the file, the record index
and its byte offset. After the last record `sha256` and `size` are set. Host only (google-crc32c).
"""
import hashlib
import io
import os
import queue as queues
import stat
import threading

from resnext.data import tfrecord

CHUNK_BYTES = 1 << 20  # bytes per read: large enough that syscalls and queue hand-offs do not count
QUEUED_CHUNKS = 8  # chunks read ahead of the hashing thread at most (8 MB)
_HEADER, _FOOTER = tfrecord.HEADER_BYTES, tfrecord.FOOTER_BYTES


class _Hasher:
    """SHA-256 of the chunks handed to add(), computed in a thread of its own, in order."""

    def __init__(self):
        self._digest = hashlib.sha256()
        self._chunks = queues.Queue(QUEUED_CHUNKS)
        self._thread = threading.Thread(target=self._run, name="shard-sha256", daemon=True)
        self._thread.start()

    def _run(self):
        update = self._digest.update
        for chunk in iter(self._chunks.get, None):
            update(chunk)

    def add(self, chunk):
        self._chunks.put(chunk)

    def hexdigest(self):
        """Wait for every chunk added so far; the hex digest of all of them."""
        self.close()
        return self._digest.hexdigest()

    def close(self):
        if self._thread.is_alive():
            self._chunks.put(None)
            self._thread.join()


def open_regular(path):
    """A binary file object of `path`, which must be a regular file (a FIFO would block a read)."""
    f = io.open(path, "rb", buffering=0)
    try:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise tfrecord.CorruptRecordError("%s: not a regular file" % path)
    except BaseException:
        f.close()
        raise
    return f


class ShardScan:
    """Iterate once over (index, offset, record bytes) of the TFRecord file at `path`, all verified.

    on_bytes(n), when given, is called after each read with the bytes read (for progress).
    """

    def __init__(self, path, on_bytes=None):
        self.path, self._on_bytes = path, on_bytes
        self.sha256, self.size, self.num_records = None, None, 0

    def _error(self, index, offset, what):
        return tfrecord.CorruptRecordError("%s: record %d at byte offset %d: %s"
                                           % (self.path, index, offset, what))

    def __iter__(self):
        hasher = _Hasher()
        try:
            with open_regular(self.path) as f:
                if hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
                size = os.fstat(f.fileno()).st_size
                for item in self._frames(f, size, hasher):
                    yield item
            self.sha256, self.size = hasher.hexdigest(), size
        finally:
            hasher.close()

    def _read(self, f, want, hasher):
        """Up to `want` bytes (fewer only at the end of the file); each chunk goes to the hasher."""
        pieces, got = [], 0
        while got < want:
            chunk = f.read(max(CHUNK_BYTES, want - got))
            if not chunk:
                break
            hasher.add(chunk)
            pieces.append(chunk)
            got += len(chunk)
            if self._on_bytes is not None:
                self._on_bytes(len(chunk))
        return pieces

    def _frames(self, f, size, hasher):
        buf, pos, base, index = b"", 0, 0, 0  # base: the file offset of buf[0]
        while True:
            if len(buf) - pos < _HEADER:
                more = self._read(f, _HEADER, hasher)
                buf, base, pos = b"".join([buf[pos:]] + more), base + pos, 0
                if not buf:
                    break
            offset = base + pos
            length = self._length(buf, pos, index, offset, size)
            end = pos + _HEADER + length + _FOOTER
            if end > len(buf):  # the frame goes on in the next chunk(s)
                more = self._read(f, end - len(buf), hasher)
                buf, base, pos, end = b"".join([buf[pos:]] + more), offset, 0, end - pos
                if end > len(buf):
                    raise self._error(index, offset, "truncated: the file ended inside the record")
            data = buf[pos + _HEADER:end - _FOOTER]
            if tfrecord.masked_crc(data) != tfrecord.unpack_crc(buf[end - _FOOTER:end]):
                raise self._error(index, offset, "data checksum mismatch (the record is damaged)")
            yield index, offset, data
            index, pos = index + 1, end
        self.num_records = index

    def _length(self, buf, pos, index, offset, size):
        """The record length in the header at buf[pos], checked by its CRC and the file size."""
        header = buf[pos:pos + _HEADER]
        if len(header) < _HEADER:
            raise self._error(index, offset, "truncated: %d bytes left, not a whole record header"
                              % len(header))
        if tfrecord.masked_crc(header[:8]) != tfrecord.unpack_crc(header[8:]):
            raise self._error(index, offset,
                              "length checksum mismatch (not a TFRecord file, or damaged)")
        length = tfrecord.unpack_length(header[:8])
        if offset + _HEADER + length + _FOOTER > size:
            raise self._error(index, offset, "truncated: the record needs %d bytes, the file ends "
                              "after %d" % (_HEADER + length + _FOOTER, size - offset))
        return length
