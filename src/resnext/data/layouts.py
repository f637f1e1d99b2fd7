"""The shard layouts we read, as data: file names per split and the feature key of each fact.

One `Layout` per producer of ImageNet TFRecords; the indexer (resnext.data.index) and the input
pipeline (resnext.data.pipeline) both read records through it, so no reader special-cases a layout.
    tfslim  TF-slim / tensorflow-models `build_imagenet_data.py` (and `resnext convert`, which
            writes the same keys): train-NNNNN-of-NNNNN, validation-NNNNN-of-NNNNN
    tfds    tensorflow_datasets `imagenet2012`: imagenet2012-train.tfrecord-NNNNN-of-NNNNN,
            imagenet2012-validation.tfrecord-NNNNN-of-NNNNN (its test split has no labels: not read)
`detect(folder)` names the layout of a folder from its file names. Python 3.7, no TensorFlow
(the container's pipeline imports it too).
"""

import collections
import os
import re

SPLITS = ("train", "validation")

Layout = collections.namedtuple(
    "Layout",
    [
        "name",  # the manifest's `layout` value
        "title",  # what the report and messages call it
        "patterns",  # {split: regex of a complete shard's file name}
        "example",  # a shard's file name, for messages: str.format(split=...)
        "image",  # key of the encoded image: one bytes value
        "label",  # key of the class label: one int64 value
        "label_base",  # the first class's label when the producer fixes it (0), else None: detected
        "synset",  # (key, regex whose group 1 is the synset, or None for the whole value) or None
        "text",  # key of the class text (one bytes value), or None
        "filename",  # key of the image's file name (one bytes value)
        "boxes",  # keys of the box corners (ymin, xmin, ymax, xmax: float lists, 0..1), or ()
        "box_label",  # key of the boxes' labels (int64 list), or None
    ],
)

TFSLIM = Layout(
    name="tfslim",
    title="TF-slim (tensorflow/models build_imagenet_data.py)",
    patterns={"train": r"^train-\d+-of-\d+$", "validation": r"^validation-\d+-of-\d+$"},
    example="{split}-NNNNN-of-NNNNN",
    image="image/encoded",
    label="image/class/label",
    label_base=None,
    synset=("image/class/synset", None),
    text="image/class/text",
    filename="image/filename",
    boxes=(
        "image/object/bbox/ymin",
        "image/object/bbox/xmin",
        "image/object/bbox/ymax",
        "image/object/bbox/xmax",
    ),
    box_label="image/object/bbox/label",
)

# TFDS's imagenet2012: `label` is a 0-based ClassLabel over the sorted synsets; train file names are
# <synset>_<n>.JPEG, validation ones ILSVRC2012_val_<n>.JPEG (no synset there)
TFDS = Layout(
    name="tfds",
    title="TFDS imagenet2012 (tensorflow_datasets)",
    patterns={
        "train": r"^imagenet2012-train\.tfrecord-\d+-of-\d+$",
        "validation": r"^imagenet2012-validation\.tfrecord-\d+-of-\d+$",
    },
    example="imagenet2012-{split}.tfrecord-NNNNN-of-NNNNN",
    image="image",
    label="label",
    label_base=0,
    synset=("file_name", r"^(n\d{8})_"),
    text=None,
    filename="file_name",
    boxes=(),
    box_label=None,
)

LAYOUTS = {layout.name: layout for layout in (TFSLIM, TFDS)}
DEFAULT = TFSLIM  # a manifest without a `layout` key was written by `resnext convert`


def by_name(name):
    """The Layout named `name` (a manifest's `layout`; None -> TF-slim); ValueError naming them."""
    if name is None:
        return DEFAULT
    if name not in LAYOUTS:
        raise ValueError("unknown shard layout %r (known: %s)" % (name, ", ".join(sorted(LAYOUTS))))
    return LAYOUTS[name]


def shard_names(names, layout, split):
    """The sorted names among `names` that are complete `split` shards of `layout`."""
    pattern = re.compile(layout.patterns[split])
    return sorted(n for n in names if pattern.match(n))


def detect(folder):
    """The Layout whose train and validation shards are in `folder`.

    Raises FileNotFoundError naming the folder when it is missing, ValueError naming the folder and
    the file patterns when no layout has shards of both splits there, or when two layouts do (which
    of them to read would be a guess).
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            "data folder %s does not exist (set data_url to a folder of shards)" % folder
        )
    names = os.listdir(folder)
    found = [lay for lay in LAYOUTS.values() if all(shard_names(names, lay, s) for s in SPLITS)]
    if len(found) == 1:
        return found[0]
    if found:
        raise ValueError(
            "%s holds both %s shards: keep one layout per folder"
            % (folder, " and ".join(lay.title for lay in found))
        )
    wanted = "; ".join(
        "%s: %s and %s"
        % (lay.title, lay.example.format(split="train"), lay.example.format(split="validation"))
        for lay in LAYOUTS.values()
    )
    raise ValueError(
        "%s holds no complete shard set (train and validation) of a known layout; "
        "expected file names like %s" % (folder, wanted)
    )
