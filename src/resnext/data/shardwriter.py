"""Conversion worker: write one shard from its task, or prove that an earlier run already wrote it.

A task is {"name", "split", "path", "items": [sources.Item], "task_sha256"}. `run_task` first looks
for the shard's sidecar `<shard>.json`: when it names the same task_sha256 (same inputs, labels,
boxes, format and re-encoder) and the shard's sha256 still matches, the shard is reused as it is.
Otherwise every image is read and checked by one decode (resnext.data.images) and its record framed
and hashed into chunk buffers, which a writer thread writes to the shard's temp file while the next
images are checked (`ShardPipeline`); its sidecar is then written (atomically) and the file fsynced
and renamed into place (`store_shard`): the sidecar proves the shard ours (resnext.data.owned), and
the sha256 it records proves the shard complete.
No TensorFlow here: workers start fast. Host only.
"""

import hashlib
import json
import mmap
import os
import queue as queues
import threading
import typing

from resnext import atomic
from resnext.data import annotations, example, images, tfrecord

FORMAT = 2  # bump when the record layout changes: every shard is then rewritten
SIDECAR_SUFFIX = ".json"
# most chunk buffers per pipeline (tfrecord.CHUNK_BYTES each): one being filled, the rest queued
BUFFERS = 4


def sidecar_path(shard_path):
    return shard_path + SIDECAR_SUFFIX


def task_digest(split, name, items, max_pixels):
    """sha256 identifying what a shard is made of (inputs by path, size and mtime; labels; boxes;
    encoder; the pixel limit, which decides what is skipped)."""
    import PIL

    ident = [
        FORMAT,
        images.REENCODE_QUALITY,
        "Pillow " + PIL.__version__,
        split,
        name,
        [list(i) for i in items],
        max_pixels,
    ]
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode("utf-8")).hexdigest()


def reusable(task):
    """The sidecar of an already complete, unchanged shard of this task, else None."""
    side_path = sidecar_path(task["path"])
    if not (os.path.isfile(side_path) and os.path.isfile(task["path"])):
        return None
    try:
        side = atomic.read_json(side_path)
    except ValueError:
        return None
    if side.get("task_sha256") != task["task_sha256"] or side.get("bytes") != os.path.getsize(
        task["path"]
    ):
        return None
    return side if atomic.sha256_file(task["path"]) == side.get("sha256") else None


def _boxes(item, checked, problems):
    """Relative boxes of one image from its XML file or its ground-truth row;
    problems get a note."""
    width, height, boxes = checked.width, checked.height, item.boxes
    if not (boxes or item.bbox_xml):
        return []
    if item.bbox_xml:
        try:
            xml_w, xml_h, boxes = annotations.read_xml_boxes(item.bbox_xml)
        except Exception as exc:  # malformed XML: the image is still good, the boxes are not
            problems.append(
                "bounding boxes unreadable (%s): %s: %s" % (item.bbox_xml, type(exc).__name__, exc)
            )
            return []
        if xml_w > 0 and xml_h > 0:
            width, height = xml_w, xml_h
    return annotations.relative_boxes(boxes, width, height)


class SlimRecords:
    """TF-slim Examples of checked images, serialised with as little per-image work as possible.

    Features in sorted name order: image/channels, class/label, class/synset, class/text, colorspace
    (one cached blob per class), encoded (a prefix, then the JPEG bytes, not copied), filename,
    format, height (cached), object/bbox/label, xmax, xmin, ymax, ymin (one blob, cached when there
    are no boxes), width (cached). Equal to example.example_bytes of the same features (tested).
    """

    def __init__(self):
        self._cache = {}
        self._format = example.entry_bytes("image/format", b"JPEG")
        self._no_boxes = self._boxes_bytes([], [])

    def _entry(self, name, value):
        key = (name, value)
        blob = self._cache.get(key)
        if blob is None:
            blob = self._cache[key] = example.entry_bytes(name, value)
        return blob

    def _prefix(self, name, length):
        """example.bytes_entry_prefix, cached: file names come in a few lengths."""
        key = (name, length)
        prefix = self._cache.get(key)
        if prefix is None:
            prefix = self._cache[key] = example.bytes_entry_prefix(name, length)[0]
        return prefix

    def _class_blob(self, item):
        key = ("class", item.label, item.synset, item.text)
        if key not in self._cache:
            self._cache[key] = b"".join(
                example.entry_bytes(n, v)
                for n, v in (
                    ("image/channels", 3),
                    ("image/class/label", int(item.label)),
                    ("image/class/synset", item.synset.encode("utf-8")),
                    ("image/class/text", item.text.encode("utf-8")),
                    ("image/colorspace", b"RGB"),
                )
            )
        return self._cache[key]

    def _boxes_blob(self, item, boxes, label_map):
        if not boxes:
            return self._no_boxes
        return self._boxes_bytes(boxes, [label_map.get(b[0], item.label) for b in boxes])

    @staticmethod
    def _boxes_bytes(boxes, labels):
        return b"".join(
            example.entry_bytes(n, v)
            for n, v in (
                ("image/object/bbox/label", example.ints(labels)),
                ("image/object/bbox/xmax", example.floats(b[3] for b in boxes)),
                ("image/object/bbox/xmin", example.floats(b[1] for b in boxes)),
                ("image/object/bbox/ymax", example.floats(b[4] for b in boxes)),
                ("image/object/bbox/ymin", example.floats(b[2] for b in boxes)),
            )
        )

    def parts(self, item, checked, boxes, label_map):
        """(chunks, size) of the record: [head, JPEG bytes, tail]."""
        data = checked.data
        name = os.path.basename(item.path).encode("utf-8")
        tail = b"".join(
            (
                self._prefix("image/filename", len(name)),
                name,
                self._format,
                self._entry("image/height", int(checked.height)),
                self._boxes_blob(item, boxes, label_map),
                self._entry("image/width", int(checked.width)),
            )
        )
        head = self._class_blob(item) + example.bytes_entry_prefix("image/encoded", len(data))[0]
        body = len(head) + len(data) + len(tail)
        outer = example.example_head(body)
        return [outer + head, data, tail], len(outer) + body


def _note(lists, key, item, reason, **extra):
    entry = {"path": item.path, "reason": reason}
    entry.update(extra)
    lists[key].append(entry)


def _add_image(chunks, records, item, checker, label_map, lists):
    try:
        checked = checker.check(images.read_file(item.path))
    except images.BadImage as exc:
        _note(lists, "skipped", item, str(exc))
        return
    if checked.reencoded:
        _note(
            lists,
            "reencoded",
            item,
            "%s data re-encoded as RGB JPEG" % checked.reencoded,
            kind=checked.reencoded,
        )
    problems = [checked.warning] if checked.warning else []
    boxes = _boxes(item, checked, problems)
    for problem in problems:
        _note(lists, "warnings", item, problem)
    lists["boxes"] += len(boxes)
    lists["with_boxes"] += bool(boxes)
    chunks.add(*records.parts(item, checked, boxes, label_map))


def build_shard(task, label_map, report, chunks):
    """Check every image of the task and frame its records into `chunks` (tfrecord.RecordChunks),
    then close it.

    Returns the shard's sidecar (the file is not stored yet).
    """
    checker, records = images.Checker(max_pixels=task["max_image_pixels"]), SlimRecords()
    lists = {"skipped": [], "reencoded": [], "warnings": [], "boxes": 0, "with_boxes": 0}
    for item in task["items"]:
        _add_image(chunks, records, item, checker, label_map, lists)
        report(1)
    lists.update(
        name=task["name"],
        split=task["split"],
        task_sha256=task["task_sha256"],
        num_files=len(task["items"]),
        **chunks.close(),
    )
    return lists


def store_shard(task, shard, side):
    """Write the shard's sidecar, then commit the shard file (fsync, rename).

    In this order every shard file the converter made is named by its sidecar at every moment, so a
    kill never leaves one that resnext.data.owned cannot prove ours. A sidecar whose shard did not
    land describes nothing: reuse checks the file's sha256, and a sidecar without its shard is
    removed by the next conversion (here too when the commit fails and no shard is there).
    """
    side_path = sidecar_path(task["path"])
    atomic.write_json(side_path, side)
    try:
        shard.commit()
    except BaseException:
        if not os.path.exists(task["path"]):
            atomic.remove_quietly(side_path)
        raise
    return side


class _Open(typing.NamedTuple):
    """Writer job: start the shard's temp file."""

    path: str  # the shard's final path


class _Data(typing.NamedTuple):
    """Writer job: write buffer[:used] to the open shard, then hand the buffer back."""

    buffer: mmap.mmap  # tfrecord.CHUNK_BYTES, page-aligned
    used: int  # bytes filled; a multiple of tfrecord.BLOCK except in a shard's last buffer


class _Commit(typing.NamedTuple):
    """Writer job: store the open shard (sidecar, then fsync and rename): see store_shard."""

    index: int  # the caller's index of the task
    task: dict
    side: dict  # the sidecar build_shard returned


class _Stored(typing.NamedTuple):
    """Writer result of a _Commit: the stored sidecar, or the exception that ended the shard."""

    index: int
    side: typing.Optional[dict]
    error: typing.Optional[BaseException]


class ShardPipeline:
    """Converts shards one after another; a writer thread stores them while the next
    images are checked.

    run(index, task) for each task, then finish(); close() in any case (`with` does it). Records are
    framed (and hashed) into chunk buffers here; the writer thread writes each full buffer to the
    shard's temp file and, at the shard's end, writes its sidecar, then fsyncs and renames it.
    on_done(index, sidecar, reused) is called in the caller's thread once a shard is stored (or at
    once for a shard found complete and reused). A writer error is raised here by the next call.
    """

    def __init__(self, label_map, report, on_done):
        self._label_map, self._report, self._on_done = label_map, report, on_done
        self._free, self._jobs, self._stored = queues.Queue(), queues.Queue(), queues.Queue()
        self._buffers, self._pending, self._error = 0, 0, None
        self._writer = threading.Thread(target=self._write_loop, name="shard-writer", daemon=True)
        self._writer.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def run(self, index, task):
        self._collect(wait=False)
        side = reusable(task)
        if side is not None:
            self._report(len(task["items"]))
            self._on_done(index, side, True)
            return
        self._jobs.put(_Open(task["path"]))
        side = build_shard(
            task, self._label_map, self._report, tfrecord.RecordChunks(self._take, self._emit)
        )
        self._jobs.put(_Commit(index, task, side))
        self._pending += 1

    def _take(self):
        if self._error is not None:  # stop building a shard the writer has given up on
            raise self._error
        if (
            self._buffers < BUFFERS and self._free.empty()
        ):  # a new one only when the writer lags behind
            self._buffers += 1
            return tfrecord.new_buffer()
        return self._free.get()

    def _emit(self, buffer, used):
        self._jobs.put(_Data(buffer, used))

    def _collect(self, wait):
        """on_done for every stored shard (all outstanding ones when `wait`);
        raises a writer error."""
        while self._pending:
            try:
                stored = self._stored.get(block=wait)
            except queues.Empty:
                return
            self._pending -= 1
            if stored.error is not None:
                raise stored.error
            self._on_done(stored.index, stored.side, False)

    def finish(self):
        """Wait for the writer; every shard run so far is then on disk with its sidecar."""
        self._collect(wait=True)
        self.close()

    def close(self):
        """Stop the writer thread once it has done what is queued;
        a shard not committed is removed."""
        if self._writer.is_alive():
            self._jobs.put(None)
            self._writer.join()

    def _write_loop(self):
        shard, failed = None, None  # the tfrecord.ShardFile being written; the error that ended it
        for job in iter(self._jobs.get, None):
            if isinstance(job, _Data):
                if shard is not None:
                    shard, failed = self._attempt(_write_chunk, shard, job.buffer, job.used)
                self._free.put(job.buffer)
            elif isinstance(job, _Open):
                if shard is not None:
                    shard.abort()  # a shard whose building failed in the caller's thread
                shard, failed = self._attempt(tfrecord.ShardFile, job.path)
            else:
                side = None
                if shard is not None:
                    side, failed = self._attempt(store_shard, job.task, shard, job.side)
                self._stored.put(_Stored(job.index, side, failed))
                shard, failed = None, None
        if shard is not None:
            shard.abort()

    def _attempt(self, function, *args):
        """(function(*args), None), or (None, the exception it raised), which is also kept for the
        caller's thread to raise (a failed ShardFile has removed its temp file itself)."""
        try:
            return function(*args), None
        except BaseException as exc:  # handed to the caller's thread by _take / _collect
            self._error = exc
            return None, exc


def _write_chunk(shard, buffer, used):
    shard.write(memoryview(buffer)[:used])
    return shard


def run_task(task, label_map, report=None):
    """(sidecar, reused) of one task, converted by a pipeline of its own."""
    done = []
    with ShardPipeline(
        label_map, report or (lambda n: None), lambda i, side, reused: done.append((side, reused))
    ) as pipeline:
        pipeline.run(0, task)
        pipeline.finish()
    return done[0]
