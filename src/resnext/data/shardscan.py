"""Read every record of a TFRecord file once: framing and both CRC-32Cs checked, sha256 of the file.

`ShardScan(path)` yields (record index, byte offset, record bytes). Each byte is read once, and the
bytes objects read feed both checks: each record's data is checksummed as it is, and the frame's
pieces (header, data, footer) go in batches of ~1 MB to a hashing thread that updates the file's
SHA-256 with them (hashlib releases the GIL on large buffers, so on two cores the hash runs beside
the framing, the CRCs and the caller's parsing). No piece is copied on the way: reading into a
reused buffer and cutting records out of it was slower (an extra copy per byte), and so was a
fresh 1 MB object per read (this VM page-faults at ~2.5 us per 4 KB page). A frame that is cut
short, whose length or data checksum does not match, or whose length runs past the end of the
file raises tfrecord.CorruptRecordError naming the file, the record index and its byte offset.
After the last record `sha256`, `size` and `num_records` are set. Host only.
"""

import hashlib
import io
import os
import queue as queues
import stat
import threading

from resnext.data import tfrecord

BATCH_BYTES = 1 << 20  # bytes handed to the hashing thread at once: queue hand-offs do not count
QUEUED_BATCHES = 8  # batches waiting for the hashing thread at most (~8 MB held)
_HEADER, _FOOTER = tfrecord.HEADER_BYTES, tfrecord.FOOTER_BYTES


class _Hasher:
    """SHA-256 of the pieces given to add(), in order, in a thread of its own."""

    def __init__(self):
        self._digest = hashlib.sha256()
        self._batches = queues.Queue(QUEUED_BATCHES)
        self._thread = threading.Thread(target=self._run, name="shard-sha256", daemon=True)
        self._thread.start()

    def _run(self):
        update = self._digest.update
        for batch in iter(self._batches.get, None):
            for piece in batch:
                update(piece)

    def add(self, batch):
        """Hash the bytes objects of `batch` (a list) after every earlier batch."""
        self._batches.put(batch)

    def hexdigest(self):
        """Wait for every batch added so far; the hex digest of all of them."""
        self.close()
        return self._digest.hexdigest()

    def close(self):
        if self._thread.is_alive():
            self._batches.put(None)
            self._thread.join()


def open_regular(path):
    """A binary file object of `path`, which must be a regular file (a FIFO would block a read)."""
    f = open(path, "rb", buffering=0)
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
        return tfrecord.CorruptRecordError(
            "%s: record %d at byte offset %d: %s" % (self.path, index, offset, what)
        )

    def __iter__(self):
        hasher = _Hasher()
        try:
            with open_regular(self.path) as raw:
                if hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(raw.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
                size = os.fstat(raw.fileno()).st_size
                yield from self._frames(io.BufferedReader(raw), size, hasher)
            self.sha256, self.size = hasher.hexdigest(), size
        finally:
            hasher.close()

    def _frames(self, f, size, hasher):
        index, offset, batch, batched, on_bytes = 0, 0, [], 0, self._on_bytes
        while True:
            header = f.read(_HEADER)
            if not header:
                break
            length = self._length(header, index, offset, size)
            data, footer = f.read(length), f.read(_FOOTER)
            if len(data) < length or len(footer) < _FOOTER:
                raise self._error(index, offset, "truncated: the file ended inside the record")
            if tfrecord.masked_crc(data) != tfrecord.unpack_crc(footer):
                raise self._error(index, offset, "data checksum mismatch (the record is damaged)")
            batch += (header, data, footer)
            batched += length + _HEADER + _FOOTER
            if batched >= BATCH_BYTES:
                hasher.add(batch)
                if on_bytes is not None:
                    on_bytes(batched)
                batch, batched = [], 0
            yield index, offset, data
            index, offset = index + 1, offset + _HEADER + length + _FOOTER
        hasher.add(batch)
        if on_bytes is not None:
            on_bytes(batched)
        self.num_records = index

    def _length(self, header, index, offset, size):
        """The record length in `header`, checked by its CRC and the file size."""
        if len(header) < _HEADER:
            raise self._error(
                index, offset, "truncated: %d bytes left, not a whole record header" % len(header)
            )
        if tfrecord.masked_crc(header[:8]) != tfrecord.unpack_crc(header[8:]):
            raise self._error(
                index, offset, "length checksum mismatch (not a TFRecord file, or damaged)"
            )
        length = tfrecord.unpack_length(header[:8])
        if offset + _HEADER + length + _FOOTER > size:
            raise self._error(
                index,
                offset,
                "truncated: the record needs %d bytes, the file ends "
                "after %d" % (_HEADER + length + _FOOTER, size - offset),
            )
        return length
