"""Conversion worker: write one shard from its task, or prove that an earlier run already wrote it.

A task is {"name", "split", "path", "items": [sources.Item], "task_sha256"}. `run_task` first looks
for the shard's sidecar `<shard>.json`: when it names the same task_sha256 (same inputs, labels,
boxes, format and re-encoder) and the shard's sha256 still matches, the shard is reused as it is.
Otherwise every image is read and checked by one decode (resnext.data.images), its record framed in
memory, the shard written atomically, and then its sidecar (atomically too): a sidecar never
describes a shard that is not complete. `ShardPipeline` stores one shard on a thread while the
next is built. No TensorFlow here: workers start fast. Host only.
"""
import hashlib
import json
import os
import threading

from resnext import atomic
from resnext.data import annotations, example, images, tfrecord

FORMAT = 2  # bump when the record layout changes: every shard is then rewritten
SIDECAR_SUFFIX = ".json"
RECORD_OVERHEAD = 1024  # bytes a record adds to its image (features, framing); sizes the shard buffer


def sidecar_path(shard_path):
    return shard_path + SIDECAR_SUFFIX


def task_digest(split, name, items):
    """sha256 identifying what a shard is made of (inputs by path, size and mtime; labels; boxes; encoder)."""
    import PIL
    ident = [FORMAT, images.REENCODE_QUALITY, "Pillow " + PIL.__version__, split, name, [list(i) for i in items]]
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
    if side.get("task_sha256") != task["task_sha256"] or side.get("bytes") != os.path.getsize(task["path"]):
        return None
    return side if tfrecord.sha256_file(task["path"]) == side.get("sha256") else None


def _boxes(item, checked, problems):
    """Relative boxes of one image from its XML file or its ground-truth row; problems get a note."""
    width, height, boxes = checked.width, checked.height, item.boxes
    if item.bbox_xml:
        try:
            xml_w, xml_h, boxes = annotations.read_xml_boxes(item.bbox_xml)
        except Exception as exc:  # malformed XML: the image is still good, the boxes are not
            problems.append("bounding boxes unreadable (%s): %s: %s" % (item.bbox_xml, type(exc).__name__, exc))
            return []
        if xml_w > 0 and xml_h > 0:
            width, height = xml_w, xml_h
    return annotations.relative_boxes(boxes, width, height)


class SlimRecords(object):
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
        if key not in self._cache:
            self._cache[key] = example.entry_bytes(name, value)
        return self._cache[key]

    def _class_blob(self, item):
        key = ("class", item.label, item.synset, item.text)
        if key not in self._cache:
            self._cache[key] = b"".join(example.entry_bytes(n, v) for n, v in (
                ("image/channels", 3), ("image/class/label", int(item.label)),
                ("image/class/synset", item.synset.encode("utf-8")), ("image/class/text", item.text.encode("utf-8")),
                ("image/colorspace", b"RGB")))
        return self._cache[key]

    def _boxes_blob(self, item, boxes, label_map):
        if not boxes:
            return self._no_boxes
        return self._boxes_bytes(boxes, [label_map.get(b[0], item.label) for b in boxes])

    @staticmethod
    def _boxes_bytes(boxes, labels):
        return b"".join(example.entry_bytes(n, v) for n, v in (
            ("image/object/bbox/label", example.ints(labels)),
            ("image/object/bbox/xmax", example.floats(b[3] for b in boxes)),
            ("image/object/bbox/xmin", example.floats(b[1] for b in boxes)),
            ("image/object/bbox/ymax", example.floats(b[4] for b in boxes)),
            ("image/object/bbox/ymin", example.floats(b[2] for b in boxes))))

    def parts(self, item, checked, boxes, label_map):
        """(chunks, size) of the record: [head, JPEG bytes, tail]."""
        prefix, _ = example.bytes_entry_prefix("image/encoded", len(checked.data))
        name = os.path.basename(item.path).encode("utf-8")
        tail = b"".join((example.bytes_entry_prefix("image/filename", len(name))[0], name, self._format,
                         self._entry("image/height", int(checked.height)), self._boxes_blob(item, boxes, label_map),
                         self._entry("image/width", int(checked.width))))
        head = self._class_blob(item) + prefix
        body = len(head) + len(checked.data) + len(tail)
        outer = example.example_head(body)
        return [outer + head, checked.data, tail], len(outer) + body


def _note(lists, key, item, reason, **extra):
    entry = {"path": item.path, "reason": reason}
    entry.update(extra)
    lists[key].append(entry)


def _add_image(builder, records, item, checker, label_map, lists):
    try:
        checked = checker.check(images.read_file(item.path))
    except images.BadImage as exc:
        _note(lists, "skipped", item, str(exc))
        return
    if checked.reencoded:
        _note(lists, "reencoded", item, "%s data re-encoded as RGB JPEG" % checked.reencoded, kind=checked.reencoded)
    problems = [checked.warning] if checked.warning else []
    boxes = _boxes(item, checked, problems)
    for problem in problems:
        _note(lists, "warnings", item, problem)
    lists["boxes"] += len(boxes)
    lists["with_boxes"] += bool(boxes)
    builder.add_parts(*records.parts(item, checked, boxes, label_map))


def build_shard(task, label_map, report, arena):
    """Check every image of the task and frame its records into `arena` (CPU work, nothing written).

    Returns (builder, sidecar without the shard entry).
    """
    expected = sum(max(item.size, 0) + RECORD_OVERHEAD for item in task["items"])
    builder = tfrecord.ShardBuilder(arena, reserve=expected)
    checker, records = images.Checker(), SlimRecords()
    lists = {"skipped": [], "reencoded": [], "warnings": [], "boxes": 0, "with_boxes": 0}
    for item in task["items"]:
        _add_image(builder, records, item, checker, label_map, lists)
        report(1)
    lists.update(name=task["name"], split=task["split"], task_sha256=task["task_sha256"],
                 num_files=len(task["items"]))
    return builder, lists


def store_shard(task, builder, side):
    """Write the shard atomically, then its sidecar (so a sidecar never outlives a half shard)."""
    side = dict(side, **builder.write(task["path"]))
    atomic.write_json(sidecar_path(task["path"]), side)
    return side


class ShardPipeline(object):
    """Converts shards one after another; storing one (write + fsync: I/O wait) overlaps building the next.

    run(index, task) for each task, then finish(). on_done(index, sidecar, reused) is called in the
    caller's thread once a shard is stored (or found complete and reused). At most one shard is being
    stored at a time; two arenas alternate. An error while storing is raised by the next run/finish.
    """

    def __init__(self, label_map, report, on_done):
        self._label_map, self._report, self._on_done = label_map, report, on_done
        self._arenas = [tfrecord.Arena(), tfrecord.Arena()]
        self._storing = None  # (thread, index, box for the sidecar or the exception)

    def run(self, index, task):
        side = reusable(task)
        if side is not None:
            self._report(len(task["items"]))
            self._on_done(index, side, True)
            return
        self._arenas.reverse()  # the arena the store in flight does not use
        builder, side = build_shard(task, self._label_map, self._report, self._arenas[0])
        self._wait()
        box = []
        thread = threading.Thread(target=self._store, args=(task, builder, side, box), name="store-" + task["name"])
        thread.start()
        self._storing = (thread, index, box)

    @staticmethod
    def _store(task, builder, side, box):
        try:
            box.append(store_shard(task, builder, side))
        except BaseException as exc:  # handed to the caller's thread by _wait
            box.append(exc)

    def _wait(self):
        if self._storing is None:
            return
        thread, index, box = self._storing
        thread.join()
        self._storing = None
        if isinstance(box[0], BaseException):
            raise box[0]
        self._on_done(index, box[0], False)

    def finish(self):
        """Wait for the last store; every shard run so far is then on disk with its sidecar."""
        self._wait()


def run_task(task, label_map, report=None, arena=None):
    """(sidecar, reused) of one task, built and stored in this thread (no pipelining)."""
    report = report or (lambda n: None)
    side = reusable(task)
    if side is not None:
        report(len(task["items"]))
        return side, True
    builder, side = build_shard(task, label_map, report, arena or tfrecord.Arena())
    return store_shard(task, builder, side), False
