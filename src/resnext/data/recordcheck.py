"""What `resnext index` requires of every record it adopts, and what it gathers for the manifest.

`RecordCheck(layout, label_offset, num_classes).check(data, index, offset)` reads one serialised
tf.train.Example through the layout's keys (resnext.data.layouts): the encoded image must be one
non-empty bytes value, the label one int64 inside label_offset..num_classes-1, the synset (where
the layout has one) must always go with the same label and the label with the same synset, and
box corner lists, when present, must be float lists of one length. A record that fails raises
Problem (the caller names the shard, the record and its offset). Labels, synsets, class texts and
box counts are gathered on the way. The image's header must give a size within max_image_pixels
(resnext.data.pixels: a record over it is refused before any stage decodes it). Pure Python: it
runs on the host (`resnext index`) and in the Ascend container (`resnext npu-check` indexes its
tiny shards).
"""

import collections
import re

from resnext.data import exampleread as er
from resnext.data import images, pixels


class Problem(Exception):
    """What is wrong with one record (the shard loop adds where it is)."""


def _kind(kind):
    return er.KIND_NAMES[kind]


def _one(data, features, key, kind, name):
    """The single value of feature `key`: (start, stop) for BYTES_LIST, an int for INT64_LIST."""
    found, parts = features[key]
    if found != kind:
        raise Problem("%s is a %s, not a %s" % (name, _kind(found), _kind(kind)))
    if kind == er.BYTES_LIST:
        values = er.bytes_values(data, parts)
    else:
        values = er.int64_values(data, parts)
    if len(values) != 1:
        raise Problem("%s holds %d values, not one" % (name, len(values)))
    return values[0]


def _key(name):
    return name.encode("utf-8") if name else None


class RecordCheck:
    """Checks the records of one layout and gathers labels, synsets, texts and boxes.

    check(data, index, offset) per record (data: bytes), with `shard` set to the shard's path
    first; raises Problem. labels: Counter {label: records}; label_of {synset: (label, where)}.
    """

    def __init__(self, layout, label_offset, num_classes, max_pixels=None):
        self.layout, self.low, self.num_classes = layout, label_offset, num_classes
        self.max_pixels = max_pixels
        self._image, self._label = _key(layout.image), _key(layout.label)
        self._text = _key(layout.text)
        self._synset = _key(layout.synset[0]) if layout.synset else None
        pattern = layout.synset[1] if layout.synset else None
        self._synset_re = re.compile(pattern.encode("ascii")) if pattern else None
        self._boxes = [_key(k) for k in layout.boxes]
        self.labels = collections.Counter()
        self.label_of, self.synset_of, self.texts = {}, {}, {}
        self.shard, self.with_boxes, self.boxes = None, 0, 0

    def check(self, data, index, offset):
        try:
            features = er.read_features(data)
        except er.DecodeError as exc:
            raise Problem("not a tf.train.Example (%s)" % exc)
        layout = self.layout
        if self._image not in features:
            raise Problem("no %s feature (the encoded image)" % layout.image)
        start, stop = _one(data, features, self._image, er.BYTES_LIST, layout.image)
        if start == stop:
            raise Problem("%s is empty" % layout.image)
        self._check_size(data[start:stop])
        if self._label not in features:
            raise Problem("no %s feature (the class label)" % layout.label)
        label = _one(data, features, self._label, er.INT64_LIST, layout.label)
        if not self.low <= label < self.num_classes:
            raise Problem(self._range_problem(label))
        self.labels[label] += 1
        if self._synset is not None and self._synset in features:
            self._note_synset(data, features, label, index)
        if self._boxes:
            self._count_boxes(data, features)

    def _check_size(self, image):
        """Problem when the image's header says it is over max_pixels (an unreadable header is
        left to the decoder: what it cannot read, it names)."""
        size = images.image_size(image) if self.max_pixels is not None else None
        if size is not None and pixels.over(size[0], size[1], self.max_pixels):
            raise Problem(
                "%s is %s" % (self.layout.image, pixels.reason(size[0], size[1], self.max_pixels))
            )

    def _range_problem(self, label):
        text = "label %d is outside label_offset..num_classes-1 (%d..%d)" % (
            label,
            self.low,
            self.num_classes - 1,
        )
        if label == 0 and self.low == 1:
            return text + (
                "; label 0 is TF-slim's background, never an image's: these labels "
                "are 0-based, so set label_offset: 0 and num_classes to the number "
                "of classes"
            )
        if label >= self.num_classes:
            return text + "; set num_classes to at least %d" % (label + 1)
        return text

    def _synset_value(self, data, features):
        """The synset this record names (str), or None (a TFDS validation file name names none)."""
        start, stop = _one(data, features, self._synset, er.BYTES_LIST, self.layout.synset[0])
        value = data[start:stop]
        if self._synset_re is not None:
            match = self._synset_re.match(value)
            value = match.group(1) if match else b""
        if not value:
            return None
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise Problem("%s %r is not UTF-8 text" % (self.layout.synset[0], value[:40]))

    def _note_synset(self, data, features, label, index):
        synset = self._synset_value(data, features)
        if synset is None:
            return
        known = self.label_of.get(synset)
        if known is not None:
            if known[0] != label:
                raise Problem(
                    "synset %s has label %d here but %d in %s" % (synset, label, known[0], known[1])
                )
            return
        other = self.synset_of.get(label)
        if other is not None:
            raise Problem(
                "label %d has synset %s here but %s in %s" % (label, synset, other[0], other[1])
            )
        where = "%s record %d" % (self.shard, index)
        self.label_of[synset], self.synset_of[label] = (label, where), (synset, where)
        if self._text is not None and self._text in features:
            start, stop = _one(data, features, self._text, er.BYTES_LIST, self.layout.text)
            self.texts[synset] = data[start:stop].decode("utf-8", "replace")

    def _count_boxes(self, data, features):
        present = [k for k in self._boxes if k in features]
        if not present:
            return
        counts = []
        for key in self._boxes:
            name = key.decode()
            if key not in features:
                raise Problem("box list %s is missing beside %s" % (name, present[0].decode()))
            kind, parts = features[key]
            if kind != er.FLOAT_LIST:
                raise Problem("%s is a %s, not a float_list" % (name, _kind(kind)))
            counts.append(len(er.float_values(data, parts)))
        if len(set(counts)) > 1:
            raise Problem(
                "box lists of different lengths (%s)"
                % ", ".join(
                    "%s %d" % (k.decode().rsplit("/", 1)[-1], n)
                    for k, n in zip(self._boxes, counts)
                )
            )
        self.with_boxes += counts[0] > 0
        self.boxes += counts[0]
