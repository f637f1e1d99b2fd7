"""Inputs beyond train/<synset>/: synset lists, flat validation folders with ground truth,
XML boxes."""

import os
import shutil

import pytest

import imagemaker
from resnext.data import annotations, convert, sources
from test_convert import all_examples

BOX_XML = """<annotation><filename>{stem}</filename><size><width>{w}</width><height>{h}</height>
<depth>3</depth></size><object><name>{syn}</name><bndbox><xmin>4</xmin><ymin>2</ymin><xmax>12</xmax>
<ymax>20</ymax></bndbox></object><object><name>n09999999</name><bndbox><xmin>-3</xmin><ymin>0</ymin>
<xmax>40</xmax><ymax>8</ymax></bndbox></object></annotation>"""


def _flat_val(tmp_path, tiny_tree):
    """Copy of the tiny tree whose val/ is flat: ILSVRC2012_val_0000000k.JPEG,
    k in sorted path order."""
    root = str(tmp_path / "tree")
    shutil.copytree(tiny_tree, root)
    truth = []
    for k, (syn, name) in enumerate(
        sorted(
            (s, n)
            for s in os.listdir(os.path.join(root, "val"))
            for n in os.listdir(os.path.join(root, "val", s))
        ),
        1,
    ):
        os.rename(
            os.path.join(root, "val", syn, name),
            os.path.join(root, "val", "ILSVRC2012_val_%08d.JPEG" % k),
        )
        truth.append(syn)
    for syn in set(truth):
        os.rmdir(os.path.join(root, "val", syn))
    return root, truth


def test_synsets_file_fixes_label_order_and_class_text(tmp_path, tiny_tree, cfg_factory, with_keys):
    synsets = tmp_path / "synsets.txt"
    synsets.write_text(
        "# label order\nd0000002\tthe digit two\n\nd0000000 zero, nought\nd0000001\n"
    )
    cfg = with_keys(cfg_factory(tmp_path, tiny_tree), synsets_file=str(synsets))
    manifest = convert.convert(cfg)
    assert manifest["label_map"] == {"d0000002": 0, "d0000000": 1, "d0000001": 2}
    assert manifest["class_text"] == {"d0000002": "the digit two", "d0000000": "zero, nought"}
    for ex in all_examples(cfg.data_dir, "train"):
        assert ex["image/class/label"] == manifest["label_map"][ex["image/class/synset"].decode()]
    two = [
        ex
        for ex in all_examples(cfg.data_dir, "validation")
        if ex["image/class/synset"] == b"d0000002"
    ]
    assert two and all(ex["image/class/text"] == b"the digit two" for ex in two)
    synsets.write_text("d0000002\nd0000000\n")
    with pytest.raises(ValueError, match="d0000001 are not in synsets_file"):
        convert.convert(cfg)
    synsets.write_text("d0000002\nd0000002\n")
    with pytest.raises(ValueError, match="synsets.txt:2: synset d0000002 repeats line 1"):
        convert.convert(cfg)


def test_flat_val_with_ilsvrc_ids_and_an_id_order_synset_list(
    tmp_path, tiny_tree, cfg_factory, with_keys
):
    root, truth = _flat_val(tmp_path, tiny_tree)
    id_order = ["d0000001", "d0000002", "d0000000"]  # ILSVRC2012_ID k is line k
    (tmp_path / "ids.txt").write_text("\n".join(id_order) + "\n")
    gt = [str(id_order.index(syn) + 1) for syn in truth]
    imagemaker.write(
        os.path.join(root, "val", "ILSVRC2012_validation_ground_truth.txt"),
        ("\n".join(gt[:-1]) + "\n").encode(),
    )  # the last image has no line
    cfg = with_keys(
        cfg_factory(tmp_path, root), val_ground_truth_synsets_file=str(tmp_path / "ids.txt")
    )
    manifest = convert.convert(cfg)
    assert manifest["ground_truth"].endswith("ILSVRC2012_validation_ground_truth.txt")
    assert manifest["label_map"] == {
        "d0000000": 0,
        "d0000001": 1,
        "d0000002": 2,
    }  # sorted train folders
    got = {
        ex["image/filename"].decode(): ex["image/class/synset"].decode()
        for ex in all_examples(cfg.data_dir, "validation")
    }
    assert got == {"ILSVRC2012_val_%08d.JPEG" % k: syn for k, syn in enumerate(truth[:-1], 1)}
    assert manifest["counts"]["validation"] == dict(
        manifest["counts"]["validation"], files=7, written=6, skipped=1
    )
    assert manifest["skipped"][0]["reason"].startswith("no entry in the ground truth")
    with pytest.raises(ValueError, match="ID-order synset list"):
        convert.convert(cfg_factory(tmp_path, root))


def test_flat_val_with_loc_solution_csv_gets_labels_and_boxes(tmp_path, tiny_tree, cfg_factory):
    root, truth = _flat_val(tmp_path, tiny_tree)
    rows = ["ImageId,PredictionString"] + [
        "ILSVRC2012_val_%08d,%s 4 2 12 20 %s 0 0 16 8 " % (k, syn, syn)
        for k, syn in enumerate(truth, 1)
    ]
    imagemaker.write(os.path.join(root, "LOC_val_solution.csv"), ("\n".join(rows) + "\n").encode())
    cfg = cfg_factory(tmp_path, root)
    manifest = convert.convert(cfg)
    assert (
        manifest["counts"]["validation"]["written"] == 7
        and manifest["counts"]["validation"]["boxes"] == 14
    )
    for ex in all_examples(cfg.data_dir, "validation"):
        k = int(ex["image/filename"].decode()[15:23])
        assert ex["image/class/synset"].decode() == truth[k - 1]
        assert ex["image/object/bbox/xmin"] == [0.25, 0.0] and ex["image/object/bbox/ymax"] == [
            1.0,
            0.5,
        ]
        assert ex["image/object/bbox/label"] == [ex["image/class/label"]] * 2


def test_xml_boxes_become_relative_tf_slim_features(tmp_path, tiny_tree, cfg_factory, with_keys):
    boxes = tmp_path / "boxes" / "d0000001"
    os.makedirs(str(boxes))
    names = sorted(os.listdir(os.path.join(tiny_tree, "train", "d0000001")))
    for name in names[:2]:
        stem = os.path.splitext(name)[0]
        (boxes / (stem + ".xml")).write_text(BOX_XML.format(stem=stem, w=32, h=40, syn="d0000001"))
    (boxes / (os.path.splitext(names[2])[0] + ".xml")).write_text("<annotation><size>")
    cfg = with_keys(cfg_factory(tmp_path, tiny_tree), bbox_dir=str(tmp_path / "boxes"))
    manifest = convert.convert(cfg)
    assert manifest["bbox_xml_files"] == 3 and manifest["counts"]["train"]["images_with_boxes"] == 2
    by_name = {ex["image/filename"].decode(): ex for ex in all_examples(cfg.data_dir, "train")}
    ex = by_name[names[0]]
    assert ex["image/object/bbox/xmin"] == [0.125, 0.0] and ex["image/object/bbox/xmax"] == [
        0.375,
        1.0,
    ]
    assert ex["image/object/bbox/ymin"] == pytest.approx([0.05, 0.0]) and ex[
        "image/object/bbox/ymax"
    ] == pytest.approx([0.5, 0.2])  # XML size 32x40, not the file's 16x16; float32 in the record
    assert ex["image/object/bbox/label"] == [1, 1]  # unknown synset: the image's label
    assert by_name[names[2]]["image/object/bbox/xmin"] == []
    assert [os.path.basename(w["path"]) for w in manifest["warnings"]] == [names[2]]
    assert "bounding boxes unreadable" in manifest["warnings"][0]["reason"]


def test_ground_truth_readers_and_box_clipping(tmp_path):
    path = str(tmp_path / "labels.txt")
    imagemaker.write(path, b"n01\nn02\n")
    truth = annotations.read_ground_truth(path)
    assert (
        truth.lookup("ILSVRC2012_val_00000002.JPEG") == ("n02", ())
        and truth.lookup("x.JPEG") is None
    )
    assert (
        annotations.image_number("a_7_b_0042.JPEG") == 42
        and annotations.image_number("none.JPEG") is None
    )
    imagemaker.write(path, b"3\n")
    with pytest.raises(ValueError, match="ID 3 is outside 1..2"):
        annotations.read_ground_truth(path, ["n01", "n02"])
    assert annotations.relative_boxes([("n", 10, 30, -5, 5)], 20, 20) == [
        ("n", 0.0, 0.25, 0.5, 1.0)
    ]
    assert annotations.relative_boxes([("n", 5, 5, 5, 9)], 20, 20) == []


def test_every_entry_of_a_split_folder_is_accounted_for(tmp_path, tiny_tree, cfg_factory):
    root = str(tmp_path / "tree")
    shutil.copytree(tiny_tree, root)
    os.symlink(
        os.path.join(root, "nowhere.JPEG"), os.path.join(root, "train", "d0000000", "dangling.JPEG")
    )
    os.rename(os.path.join(root, "val"), os.path.join(root, "validation"))
    listing = sources.list_sources(cfg_factory(tmp_path, root))
    assert len(listing.items["train"]) == 25 and len(listing.items["validation"]) == 7
    os.makedirs(os.path.join(root, "val"))
    with pytest.raises(FileNotFoundError, match="both val/ and validation/"):
        sources.list_sources(cfg_factory(tmp_path, root))
    os.rmdir(os.path.join(root, "val"))
    manifest = convert.convert(cfg_factory(tmp_path, root))
    assert [(os.path.basename(s["path"]), s["reason"]) for s in manifest["skipped"]] == [
        ("dangling.JPEG", "cannot read: No such file or directory")
    ]
