"""Read a TFRecord file's payloads in plain Python, for tests that check what the writer framed.

Not tf.data: its reader takes a file cut short for a clean end of file, and these tests must see
every frame, checked. The frame layout and checksum are resnext.data.tfrecord's.
"""

from resnext.data import tfrecord


def iter_records(path, verify=False):
    """Yield the payload (bytes) of every record in the TFRecord file at `path`, in order.

    verify=True also checks every data checksum (CorruptRecordError naming file and offset).
    """
    offset, head, foot = 0, tfrecord.HEADER_BYTES, tfrecord.FOOTER_BYTES
    with open(path, "rb") as f:
        while True:
            header = f.read(head)
            if not header:
                return
            whole = len(header) == head
            if not whole or tfrecord.masked_crc(header[:8]) != tfrecord.unpack_crc(header[8:]):
                raise tfrecord.CorruptRecordError(
                    "%s: truncated or corrupt record header at offset %d" % (path, offset)
                )
            length = tfrecord.unpack_length(header[:8])
            data, footer = f.read(length), f.read(foot)
            if len(data) < length or len(footer) < foot:
                raise tfrecord.CorruptRecordError(
                    "%s: truncated record at offset %d (%d bytes expected)" % (path, offset, length)
                )
            if verify and tfrecord.masked_crc(data) != tfrecord.unpack_crc(footer):
                raise tfrecord.CorruptRecordError(
                    "%s: corrupt record data at offset %d (checksum mismatch)" % (path, offset)
                )
            offset += head + length + foot
            yield data
