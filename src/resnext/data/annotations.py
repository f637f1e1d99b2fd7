"""The label and box files that come with ImageNet: synset lists, validation ground truth,
ILSVRC XML.

- Synset list (`read_synsets`): one class per line, its synset id first, optionally followed by
  text (imagenet_lsvrc_2015_synsets.txt: "n01440764"; imagenet_metadata.txt / LOC_synset_mapping.txt
  style: "n01440764<TAB or space>tench, Tinca tinca"). Blank lines and '#' comments are ignored.
- Validation ground truth (`read_ground_truth`) for a flat val/ folder:
  LOC_val_solution.csv ("ImageId,PredictionString", the string being "synset xmin ymin xmax ymax"
  repeated, boxes in pixels), or a text file with one line per image in image-number order
  (ILSVRC2012_val_00000001 is line 1): a synset per line
  (imagenet_2012_validation_synset_labels.txt) or an integer ILSVRC2012_ID per line
  (ILSVRC2012_validation_ground_truth.txt), mapped to synsets through an ID-order synset list
  (line k = ID k).
- ILSVRC bounding-box XML (`index_xml`, `read_xml_boxes`), boxes in pixels with the image size.
Host only.
"""

import csv
import logging
import os
import re
import xml.etree.ElementTree as ElementTree

from resnext.data import names

log = logging.getLogger(__name__)

GROUND_TRUTH_NAMES = (
    "LOC_val_solution.csv",
    "ILSVRC2012_validation_ground_truth.txt",
    "imagenet_2012_validation_synset_labels.txt",
)
_NUMBER = re.compile(r"(\d+)(?!.*\d)")  # the last run of digits in a name


def read_synsets(path):
    """[(synset, text)] in file order; ValueError naming the file and line for a repeated synset."""
    seen, out = {}, []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            synset, text = parts[0], (parts[1].strip() if len(parts) > 1 else "")
            if synset in seen:
                raise ValueError(
                    "%s:%d: synset %s repeats line %d" % (path, number, synset, seen[synset])
                )
            seen[synset] = number
            out.append((synset, text))
    if not out:
        raise ValueError("%s: no synsets in the file" % path)
    return out


def find_ground_truth(folders):
    """First file named like a known ground-truth file in `folders` (in that order), else None."""
    for folder in folders:
        for name in GROUND_TRUTH_NAMES:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    return None


def image_number(name):
    """ILSVRC2012_val_00000042.JPEG -> 42; None when the name holds no digits."""
    match = _NUMBER.search(os.path.splitext(os.path.basename(name))[0])
    return int(match.group(1)) if match else None


class GroundTruth:
    """Validation labels (and pixel boxes) by image;
    `lookup(file_name)` -> (synset, boxes) or None."""

    def __init__(self, path, by_stem=None, by_number=None):
        self.path = path
        self._by_stem = by_stem or {}
        self._by_number = by_number or {}

    def __len__(self):
        return len(self._by_stem) + len(self._by_number)

    def lookup(self, name):
        stem = os.path.splitext(os.path.basename(name))[0]
        if stem in self._by_stem:
            return self._by_stem[stem]
        number = image_number(name)
        return self._by_number.get(number) if number is not None else None


def _pixel_boxes(tokens, where):
    if len(tokens) % 5:
        raise ValueError(
            "%s: PredictionString must be groups of 'synset xmin ymin xmax ymax'" % where
        )
    return tuple(
        (
            tokens[i],
            float(tokens[i + 1]),
            float(tokens[i + 2]),
            float(tokens[i + 3]),
            float(tokens[i + 4]),
        )
        for i in range(0, len(tokens), 5)
    )


def _read_solution_csv(path):
    by_stem = {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            where = "%s: ImageId %s" % (path, row.get("ImageId"))
            tokens = (row.get("PredictionString") or "").split()
            if not row.get("ImageId") or not tokens:
                raise ValueError("%s: needs ImageId and PredictionString" % where)
            boxes = _pixel_boxes(tokens, where)
            by_stem[row["ImageId"]] = (boxes[0][0], boxes)
    return GroundTruth(path, by_stem=by_stem)


def _read_line_labels(path, id_synsets):
    with open(path, encoding="utf-8") as f:
        entries = [line.strip() for line in f if line.strip()]
    if entries and all(e.isdigit() for e in entries):
        if not id_synsets:
            raise ValueError(
                "%s holds ILSVRC2012_IDs; they need the ID-order synset list "
                "(val_ground_truth_synsets_file, or synsets_file)" % path
            )
        bad = [e for e in entries if not 1 <= int(e) <= len(id_synsets)]
        if bad:
            raise ValueError(
                "%s: ID %s is outside 1..%d, the synsets listed" % (path, bad[0], len(id_synsets))
            )
        entries = [id_synsets[int(e) - 1] for e in entries]
    return GroundTruth(path, by_number={k: (syn, ()) for k, syn in enumerate(entries, 1)})


def read_ground_truth(path, id_synsets=None):
    """GroundTruth from LOC_val_solution.csv or a per-line label file (see the module doc)."""
    if path.lower().endswith(".csv"):
        return _read_solution_csv(path)
    return _read_line_labels(path, id_synsets)


def index_xml(folder):
    """{file stem: path} of every *.xml under `folder`
    (recursively; the first in sorted order wins)."""
    index, repeats = {}, 0
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(".xml"):
                stem = os.path.splitext(name)[0]
                names.check(os.path.join(root, name))
                if stem in index:
                    repeats += 1
                    continue
                index[stem] = os.path.join(root, name)
    if repeats:
        log.warning(
            "%s: %d XML files repeat a file name already found; the first one is used",
            folder,
            repeats,
        )
    return index


def _number(node, tag):
    text = node.findtext(tag)
    if text is None:
        raise ValueError("missing <%s>" % tag)
    return float(text)


def read_xml_boxes(path):
    """ILSVRC annotation -> (width, height, ((synset, xmin, ymin, xmax, ymax), ...)) in pixels.

    width/height are 0 when the file gives no <size>. ValueError/ParseError when malformed.
    """
    root = ElementTree.parse(path).getroot()
    size = root.find("size")
    width = _number(size, "width") if size is not None else 0.0
    height = _number(size, "height") if size is not None else 0.0
    boxes = []
    for obj in root.iter("object"):
        box = obj.find("bndbox")
        if box is None:
            continue
        boxes.append(
            (
                obj.findtext("name") or "",
                _number(box, "xmin"),
                _number(box, "ymin"),
                _number(box, "xmax"),
                _number(box, "ymax"),
            )
        )
    return width, height, tuple(boxes)


def relative_boxes(boxes, width, height):
    """Pixel boxes -> [(synset, xmin, ymin, xmax, ymax)] as fractions of the size, clipped to 0..1.

    Corners are put in order; boxes of zero area after clipping are dropped.
    """
    out = []
    for synset, x0, y0, x1, y1 in boxes:
        xs = sorted(min(max(v / float(width), 0.0), 1.0) for v in (x0, x1))
        ys = sorted(min(max(v / float(height), 0.0), 1.0) for v in (y0, y1))
        if xs[0] < xs[1] and ys[0] < ys[1]:
            out.append((synset, xs[0], ys[0], xs[1], ys[1]))
    return out
