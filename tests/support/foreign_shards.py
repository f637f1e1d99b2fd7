"""Shard folders as other producers write them: TensorFlow's TFRecordWriter and tf.train.Example.

Never our encoder: these are the files `resnext index` adopts. `tfslim_example` has the keys of
tensorflow/models' build_imagenet_data.py (boxes as float lists, empty when an image has none);
`tfds_example` those of tensorflow_datasets' imagenet2012 (image, label, file_name).
An item is (split, jpeg bytes, class index, synset, file name, boxes [(ymin, xmin, ymax, xmax)]).
"""

import collections
import hashlib
import os
import random

from resnext.data import demo

Item = collections.namedtuple("Item", "split jpeg cls synset filename boxes")


def _tf():
    from resnext.compat import tf

    return tf


def _bytes(*values):
    tf = _tf()
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _ints(*values):
    tf = _tf()
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def _floats(values):
    tf = _tf()
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def tfslim_example(item, label_offset=1, size=(32, 32)):
    """tf.train.Example with the keys build_imagenet_data.py writes; label: class + label_offset."""
    tf = _tf()
    corners = list(zip(*item.boxes)) if item.boxes else [(), (), (), ()]
    feature = {
        "image/height": _ints(size[0]),
        "image/width": _ints(size[1]),
        "image/colorspace": _bytes(b"RGB"),
        "image/channels": _ints(3),
        "image/class/label": _ints(item.cls + label_offset),
        "image/class/synset": _bytes(item.synset.encode()),
        "image/class/text": _bytes(b"digit " + item.synset[-1:].encode()),
        "image/format": _bytes(b"JPEG"),
        "image/filename": _bytes(item.filename.encode()),
        "image/encoded": _bytes(item.jpeg),
        "image/object/bbox/ymin": _floats(corners[0]),
        "image/object/bbox/xmin": _floats(corners[1]),
        "image/object/bbox/ymax": _floats(corners[2]),
        "image/object/bbox/xmax": _floats(corners[3]),
        "image/object/bbox/label": _ints(*([item.cls + label_offset] * len(item.boxes))),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


def tfds_example(item):
    """tf.train.Example as tensorflow_datasets' imagenet2012 writes it (0-based label)."""
    tf = _tf()
    feature = {
        "image": _bytes(item.jpeg),
        "label": _ints(item.cls),
        "file_name": _bytes(item.filename.encode()),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


NAMES = {
    "tfslim": "{split}-{k:05d}-of-{n:05d}",
    "tfds": "imagenet2012-{split}.tfrecord-{k:05d}-of-{n:05d}",
}


def write_folder(folder, items, layout, shards=(2, 2), examples=None, seed=0):
    """Write `items` as shards of `layout` (tfslim or tfds) in folder; {split: [Example]} in order.

    Train items are shuffled (seeded) as build_imagenet_data.py does; each split is cut into
    `shards` = (train, validation) contiguous files. `examples(item)` overrides the Example builder.
    """
    tf = _tf()
    make = examples or (tfslim_example if layout == "tfslim" else tfds_example)
    os.makedirs(folder, exist_ok=True)
    written = {}
    for split, count in zip(("train", "validation"), shards):
        chosen = [i for i in items if i.split == split]
        if split == "train":
            random.Random(seed).shuffle(chosen)
        written[split] = []
        for k in range(count):
            part = chosen[len(chosen) * k // count : len(chosen) * (k + 1) // count]
            path = os.path.join(folder, NAMES[layout].format(split=split, k=k, n=count))
            with tf.io.TFRecordWriter(path) as writer:
                for item in part:
                    example = make(item)
                    writer.write(example.SerializeToString())
                    written[split].append(example)
    return written


def items_from_tree(root):
    """Items of a JPEG tree train/<synset>/*, val/<synset>/* (the demo's); class: sorted index.

    Validation file names become ILSVRC2012_val_NNNNNNNN.JPEG, as in ImageNet (no synset in them).
    """
    synsets = sorted(os.listdir(os.path.join(root, "train")))
    items, serial = [], 0
    for split, folder in (("train", "train"), ("validation", "val")):
        for cls, synset in enumerate(synsets):
            class_dir = os.path.join(root, folder, synset)
            for name in sorted(os.listdir(class_dir)) if os.path.isdir(class_dir) else []:
                with open(os.path.join(class_dir, name), "rb") as f:
                    jpeg = f.read()
                serial += 1
                filename = (
                    "%s_%d.JPEG" % (synset, serial)
                    if split == "train"
                    else "ILSVRC2012_val_%08d.JPEG" % serial
                )
                items.append(Item(split, jpeg, cls, synset, filename, ()))
    return items


def digit_items(classes, train_per_class, val_per_class, size=32, boxed_every=5):
    """Items of real digits (scikit-learn's), synsets n0000000<c>; every `boxed_every`-th train item
    has a box."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    items = []
    for c in range(classes):
        members = np.flatnonzero(digits.target == c)[: train_per_class + val_per_class]
        for k, i in enumerate(members):
            split = "train" if k < train_per_class else "validation"
            boxes = ((0.1, 0.2, 0.9, 0.8),) if split == "train" and k % boxed_every == 0 else ()
            synset = "n%08d" % c  # ImageNet-like ids (TFDS's train file names start with them)
            name = (
                "%s_%d.JPEG" % (synset, i) if split == "train" else "ILSVRC2012_val_%08d.JPEG" % i
            )
            items.append(
                Item(split, demo.digit_jpeg(digits.images[i], size), c, synset, name, boxes)
            )
    return items


def folder_state(folder):
    """{name: (sha256, size, mtime_ns)} of every file in folder: proof that nothing was written."""
    state = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        info = os.stat(path)
        state[name] = (digest, info.st_size, info.st_mtime_ns)
    return state
