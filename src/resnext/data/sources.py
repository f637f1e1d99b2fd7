"""What a conversion reads: the classes with their labels, and every input file of both splits.

Layout under `cfg.source_path`:
    train/<synset>/<image>              every class folder is a class
    val/<synset>/<image>                (or validation/...) folders named like train's, or
    val/<image>                         flat, labelled by a ground-truth file (see annotations)
Labels: the order of `synsets_file` when set (every train class must be listed), else the
sorted train class folders; label = position + label_offset. Every entry found in a split folder
is an input: it becomes an Item for a worker to check, or a plan-level skip with its reason (stray
file outside a class folder, folder nested in a class folder, validation image without ground
truth). Nothing found is dropped without a record. Host only.
"""

import collections
import logging
import os

from resnext.data import annotations, names

log = logging.getLogger(__name__)

VAL_FOLDERS = ("val", "validation")
Item = collections.namedtuple("Item", "path size mtime_ns label synset text bbox_xml boxes")
Item.__doc__ = (
    "One input image: path, stat identity, label, synset, class text, XML path or '', pixel boxes."
)
Listing = collections.namedtuple("Listing", "label_map texts items skipped ground_truth num_xml")


def option(cfg, key, default=""):
    """A config value that may not be in the schema yet (read with its default until it is)."""
    return getattr(cfg, key, default)


def scan(folder):
    """(sorted sub-folder names, sorted [(name, path, size, mtime_ns)] of every other entry)
    of `folder`.

    Every name is checked here, where it enters: one that is not valid UTF-8 raises names.BadName.
    """
    dirs, files = [], []
    for entry in os.scandir(folder):
        names.check(entry.path)
        if entry.is_dir():
            dirs.append(entry.name)
            continue
        try:
            info = entry.stat()
            size, mtime = info.st_size, info.st_mtime_ns
        except OSError:  # dangling link: the worker records why it cannot be read
            size, mtime = -1, 0
        files.append((entry.name, entry.path, size, mtime))
    return sorted(dirs), sorted(files)


def class_order(source, synsets_file):
    """([synset] in label order, {synset: text}) from synsets_file,
    else the sorted train folders."""
    train_dir = os.path.join(source, "train")
    if not os.path.isdir(train_dir):
        raise FileNotFoundError("no train/ folder in the JPEG tree %s" % source)
    folders = scan(train_dir)[0]
    if not synsets_file:
        if not folders:
            raise FileNotFoundError("no class folders in %s" % train_dir)
        return folders, {}
    listed = annotations.read_synsets(synsets_file)
    classes = [syn for syn, _ in listed]
    unknown = sorted(set(folders) - set(classes))
    if unknown:
        raise ValueError(
            "%s: train class folder(s) %s are not in synsets_file %s"
            % (train_dir, ", ".join(unknown[:5]), synsets_file)
        )
    missing = len(set(classes) - set(folders))
    if missing:
        log.warning(
            "%d of the %d classes in %s have no folder in %s",
            missing,
            len(classes),
            synsets_file,
            train_dir,
        )
    return classes, {syn: text for syn, text in listed if text}


def _item(entry, synset, label_map, texts, xml):
    name, path, size, mtime = entry
    bbox_xml = xml.get(os.path.splitext(name)[0], "") if xml else ""
    return Item(path, size, mtime, label_map[synset], synset, texts.get(synset, ""), bbox_xml, ())


def _class_folders(split_dir, label_map, texts, xml):
    """Items and skips of a split laid out as <synset>/ folders (files beside them are skips)."""
    dirs, strays = scan(split_dir)
    items = []
    skipped = [{"path": f[1], "reason": "not inside a class folder"} for f in strays]
    for synset in dirs:
        if synset not in label_map:
            raise ValueError(
                "class folder %s has no counterpart in the label map (labels come from train/ "
                "or synsets_file)" % os.path.join(split_dir, synset)
            )
        nested, files = scan(os.path.join(split_dir, synset))
        skipped.extend(
            {
                "path": os.path.join(split_dir, synset, d),
                "reason": "folder inside a class folder (not searched)",
            }
            for d in nested
        )
        items.extend(_item(f, synset, label_map, texts, xml) for f in files)
    return items, skipped


def _flat_val(val_dir, source, cfg, label_map, texts, xml):
    """Items and skips of a flat val/ folder labelled by its ground-truth file."""
    path = option(cfg, "val_ground_truth_file") or annotations.find_ground_truth([val_dir, source])
    if not path:
        raise FileNotFoundError(
            "%s holds images but no class folders, and no ground-truth file (%s) was found "
            "in it or in %s; set val_ground_truth_file"
            % (val_dir, " or ".join(annotations.GROUND_TRUTH_NAMES), source)
        )
    id_file = option(cfg, "val_ground_truth_synsets_file") or option(cfg, "synsets_file")
    id_synsets = [syn for syn, _ in annotations.read_synsets(id_file)] if id_file else None
    truth = annotations.read_ground_truth(path, id_synsets)
    items, skipped = [], []
    for entry in scan(val_dir)[1]:
        if os.path.abspath(entry[1]) == os.path.abspath(path):
            continue  # the ground-truth file itself
        found = truth.lookup(entry[0])
        if found is None:
            skipped.append({"path": entry[1], "reason": "no entry in the ground truth %s" % path})
        elif found[0] not in label_map:
            skipped.append(
                {"path": entry[1], "reason": "ground-truth synset %s is not a class" % found[0]}
            )
        else:
            items.append(_item(entry, found[0], label_map, texts, xml)._replace(boxes=found[1]))
    if skipped and not items:
        raise ValueError(
            "%s: none of its %d files has a usable label in %s "
            "(wrong ground truth or synset order?)" % (val_dir, len(skipped), path)
        )
    return items, skipped, path


def val_folder(source):
    """source/val or source/validation (exactly one must exist)."""
    found = [os.path.join(source, n) for n in VAL_FOLDERS if os.path.isdir(os.path.join(source, n))]
    if len(found) != 1:
        raise FileNotFoundError(
            "%s in the JPEG tree %s"
            % (
                "no val/ (or validation/) folder"
                if not found
                else "both val/ and validation/ folders",
                source,
            )
        )
    return found[0]


def list_sources(cfg):
    """Listing(label_map, texts, items, skipped, ground_truth, num_xml) of cfg.source_path.

    items/skipped: {"train": [...], "validation": [...]}, items sorted by path.
    """
    source = cfg.source_path
    classes, texts = class_order(source, option(cfg, "synsets_file"))
    label_map = collections.OrderedDict(
        (syn, i + cfg.label_offset) for i, syn in enumerate(classes)
    )
    val_dir = val_folder(source)
    bbox_dir = option(cfg, "bbox_dir")
    xml = annotations.index_xml(bbox_dir) if bbox_dir else {}
    if bbox_dir:
        log.info("%d bounding-box XML files under %s", len(xml), bbox_dir)
    items, skipped = {}, {}
    items["train"], skipped["train"] = _class_folders(
        os.path.join(source, "train"), label_map, texts, xml
    )
    truth = None
    if scan(val_dir)[0]:
        items["validation"], skipped["validation"] = _class_folders(val_dir, label_map, texts, xml)
    else:
        items["validation"], skipped["validation"], truth = _flat_val(
            val_dir, source, cfg, label_map, texts, xml
        )
    return Listing(label_map, texts, items, skipped, truth, len(xml))
