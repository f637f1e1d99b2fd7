"""Boxes feed the training crop (crop_with_boxes) the same way from converted and adopted shards.

The same digit images with the same box, once written by TensorFlow's own writer as TF-slim shards
(build_imagenet_data.py's keys, adopted by `resnext index`) and once converted by `resnext convert`
from a JPEG tree with ILSVRC box XML files: record by record, the training transform gives the same
image, and with crop_with_boxes it differs from the seed's whole-image crop.
"""

import os

import numpy as np
import pytest

from resnext.compat import tf
from resnext.config import load_config
from resnext.data import convert, index, layouts, pipeline
from support import foreign_shards as foreign
from support.paths import DEMO_CONFIG, TINY

CLASSES, TRAIN, VAL = 3, 10, 2
CORNER = (0.0, 0.0, 0.2, 0.2)  # ymin, xmin, ymax, xmax
XML = (
    "<annotation><filename>{stem}</filename><size><width>100</width><height>100</height>"
    "<depth>3</depth></size><object><name>{synset}</name><bndbox><xmin>{x0}</xmin>"
    "<ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object></annotation>"
)


def _tree_with_boxes(root, items):
    """The items as a JPEG tree (train/<synset>/, val/<synset>/) and ILSVRC XML for their boxes."""
    for item in items:
        split = "train" if item.split == "train" else "val"
        folder = os.path.join(root, "tree", split, item.synset)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, item.filename), "wb") as f:
            f.write(item.jpeg)
        for y0, x0, y1, x1 in item.boxes:  # one box per item: 100x100 pixels, exact in float32
            stem = os.path.splitext(item.filename)[0]
            with open(os.path.join(root, "xml", stem + ".xml"), "w") as f:
                f.write(
                    XML.format(
                        stem=stem,
                        synset=item.synset,
                        x0=round(x0 * 100),
                        y0=round(y0 * 100),
                        x1=round(x1 * 100),
                        y1=round(y1 * 100),
                    )
                )
    return os.path.join(root, "tree"), os.path.join(root, "xml")


def _cfg(tmp_path, name, **values):
    keys = dict(
        TINY,
        results_dir=str(tmp_path / "results"),
        run_name=name,
        num_classes=CLASSES,
        num_train_images=CLASSES * TRAIN,
        crop_area_min=0.08,
        crop_with_boxes=True,
    )
    keys.update(values)
    return load_config([DEMO_CONFIG], values=keys)


def _train_records(folder, layout):
    """{file name: serialized record} of the train shards in folder."""
    out = {}
    for name in layouts.shard_names(os.listdir(folder), layout, "train"):
        for record in tf.io.tf_record_iterator(os.path.join(folder, name)):
            example = tf.train.Example.FromString(record)
            out[example.features.feature[layout.filename].bytes_list.value[0].decode()] = record
    return out


def _transformed(records, layout, cfg, seed=5):
    """Image of train_example per serialized record (one op seed: equal records, equal crops)."""
    with tf.Graph().as_default(), tf.Session() as sess:
        return sess.run(
            [pipeline.train_example(tf.constant(r), layout, cfg, seed)[0] for r in records]
        )


def test_boxes_feed_the_training_crop_as_converted_data_does(tmp_path):
    # every train image: one box in its top left corner, which a whole-image crop often misses
    items = [
        i._replace(boxes=(CORNER,)) if i.split == "train" else i
        for i in foreign.digit_items(CLASSES, TRAIN, VAL)
    ]
    os.makedirs(str(tmp_path / "xml"))
    tree, xml = _tree_with_boxes(str(tmp_path), items)
    converted = _cfg(tmp_path, "converted", source_dir=tree, bbox_dir=xml, label_offset=0)
    manifest = convert.convert(converted)
    assert manifest["counts"]["train"]["images_with_boxes"] == CLASSES * TRAIN
    shards = str(tmp_path / "tfslim")
    foreign.write_folder(shards, items, "tfslim")
    adopted = _cfg(tmp_path, "adopted", data_url=shards, label_offset=1, num_classes=CLASSES + 1)
    index.index(adopted)

    ours = _train_records(converted.data_dir, layouts.TFSLIM)
    theirs = _train_records(shards, layouts.TFSLIM)
    names = sorted(theirs)
    assert sorted(ours) == names and len(names) == CLASSES * TRAIN
    from_ours = _transformed([ours[n] for n in names], layouts.TFSLIM, converted)
    from_theirs = _transformed([theirs[n] for n in names], layouts.TFSLIM, adopted)
    assert all(np.array_equal(a, b) for a, b in zip(from_ours, from_theirs))
    seed_crop = _transformed(
        [theirs[n] for n in names], layouts.TFSLIM, adopted.replace(crop_with_boxes=False)
    )
    differ = sum(not np.array_equal(a, b) for a, b in zip(from_theirs, seed_crop))
    assert differ >= len(names) // 2, differ  # the corner box moves the crop


@pytest.mark.parametrize("layout", [layouts.TFDS, layouts.TFSLIM], ids=["tfds", "no-boxes"])
def test_records_without_boxes_get_the_seeds_crop(tmp_path, layout):
    """TFDS records have no box keys and TF-slim records may hold empty lists: the whole image."""
    items = foreign.digit_items(CLASSES, 4, 1, boxed_every=10**6)
    shards = str(tmp_path / "shards")
    foreign.write_folder(shards, [i._replace(boxes=()) for i in items], layout.name)
    cfg = _cfg(tmp_path, "plain", data_url=shards)
    records = list(_train_records(shards, layout).values())
    with_boxes = _transformed(records, layout, cfg)
    without = _transformed(records, layout, cfg.replace(crop_with_boxes=False))
    assert all(np.array_equal(a, b) for a, b in zip(with_boxes, without))
