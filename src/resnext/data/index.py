"""`resnext index`: adopt a folder of existing TF-slim or TFDS shards by writing its manifest.

Every record of every shard is read once (resnext.data.shardscan: framing, both CRCs, the shard's
sha256) and parsed through the folder's layout (resnext.data.layouts): the image and the label must
be there, the label inside label_offset..num_classes-1, the synset (where the layout has one) must
name one label only. The labels found decide the convention (0-based, or TF-slim's 1-based with 0
the unused background), which must agree with label_offset. A record that fails any of this stops
the run with the shard, the record index and its byte offset; nothing is written. Otherwise
<run>/data/manifest.json (resnext.data.choice) records the shards as adopted: their sha256 and
counts, the label map from the synsets, no source tree, the producer when the folder says.
Shards are opened read-only and never written. Host only.
"""

import logging
import os
import time

from resnext import atomic
from resnext import progress as progress_mod
from resnext.config import ConfigError
from resnext.data import choice, folderlock, layouts, recordcheck, shardscan

log = logging.getLogger(__name__)

SPLITS = layouts.SPLITS
TFDS_INFO = "dataset_info.json"  # what tensorflow_datasets writes beside its shards


class RefusedRecord(ValueError):
    """A record the run cannot use; the message names the shard, the record and its byte offset."""


def index_shard(path, check, on_bytes=None):
    """Read and check every record of one shard; its manifest entry.

    The entry: name, num_records, sha256, bytes, with_boxes, boxes. Raises RefusedRecord or
    tfrecord.CorruptRecordError naming the shard, the record index and its byte offset.
    """
    check.shard, boxes_before, with_before = path, check.boxes, check.with_boxes
    scan = shardscan.ShardScan(path, on_bytes)
    for index, offset, data in scan:
        try:
            check.check(data, index, offset)
        except recordcheck.Problem as exc:
            raise RefusedRecord("%s: record %d at byte offset %d: %s" % (path, index, offset, exc))
    return {
        "name": os.path.basename(path),
        "num_records": scan.num_records,
        "sha256": scan.sha256,
        "bytes": scan.size,
        "with_boxes": check.with_boxes - with_before,
        "boxes": check.boxes - boxes_before,
    }


def _plan(cfg):
    """(DataPlan, layout, {split: [shard path]}); ConfigError when this run does not index."""
    plan = choice.decide(cfg)
    if plan.mode == "convert":
        raise ConfigError(
            "data_url is empty, so this run converts source_dir (`resnext convert`); "
            "set data_url to a folder of TF-slim or TFDS shards to index it"
        )
    if plan.mode == "converted":
        raise ConfigError(
            "%s already holds the manifest.json of a conversion: the run reads it as "
            "it is, there is nothing to index" % plan.shard_dir
        )
    try:
        layout = layouts.detect(plan.shard_dir)
    except ValueError as exc:
        raise ValueError("%s (to convert source_dir into this folder, run `resnext convert`)" % exc)
    if layout.label_base is not None and layout.label_base != cfg.label_offset:
        raise ConfigError(
            "label_offset is %d but %s labels start at %d: set label_offset: %d (and "
            "num_classes to the number of classes, 1000 for ImageNet)"
            % (cfg.label_offset, layout.title, layout.label_base, layout.label_base)
        )
    names = os.listdir(plan.shard_dir)
    shards = {
        s: [os.path.join(plan.shard_dir, n) for n in layouts.shard_names(names, layout, s)]
        for s in SPLITS
    }
    return plan, layout, shards


def _check_convention(check, folder):
    """'0-based' or '1-based' from the labels found; ConfigError when label_offset disagrees."""
    low, high = min(check.labels), max(check.labels)
    if low >= 1 and check.low == 0:
        raise ConfigError(
            "label_offset is 0 but the labels in %s run %d..%d and 0 never occurs: "
            "TF-slim's 1-based labels (0 = background); set label_offset: 1 and "
            "num_classes to at least %d" % (folder, low, high, high + 1)
        )
    return "0-based" if low == 0 else "1-based"


def _producer(folder, layout):
    """{name, version} from a TFDS dataset_info.json beside the shards, else None (unknown)."""
    path = os.path.join(folder, TFDS_INFO)
    if layout.name != "tfds" or not os.path.isfile(path):
        return None
    try:
        info = atomic.read_json(path)
    except (ValueError, OSError) as exc:
        log.warning("%s is unreadable (%s); producer unknown", path, exc)
        return None
    if not isinstance(info, dict):
        return None
    fields = {k: info.get(k) for k in ("name", "version")}
    return {k: v[:100] for k, v in fields.items() if isinstance(v, str)} or None


def _splits(entries):
    splits, counts = {}, {}
    for split in SPLITS:
        shards = entries[split]
        records = sum(s["num_records"] for s in shards)
        splits[split] = {"num_images": records, "shards": shards}
        counts[split] = {
            "records": records,
            "boxes": sum(s["boxes"] for s in shards),
            "images_with_boxes": sum(s["with_boxes"] for s in shards),
        }
    return splits, counts


def _manifest(cfg, plan, layout, entries, check, convention):
    splits, counts = _splits(entries)
    labels = check.labels
    return {
        "adopted": True,
        "layout": layout.name,
        "layout_title": layout.title,
        "shard_dir": os.path.abspath(plan.shard_dir),
        "source": None,
        "producer": _producer(plan.shard_dir, layout),
        "seed": None,
        "label_offset": cfg.label_offset,
        "label_convention": convention,
        "labels": {"min": min(labels), "max": max(labels), "distinct": len(labels)},
        "label_map": {s: v[0] for s, v in check.label_of.items()},
        "class_text": dict(check.texts),
        "num_classes_found": len(labels),
        "splits": splits,
        "counts": counts,
        "skipped": [],
        "reencoded": [],
        "warnings": [],
    }


def index(cfg, progress_seconds=progress_mod.EVERY_SECONDS):
    """Index the shards of cfg.data_url; write and return the manifest (see the module doc).

    Raises ConfigError (a key to set), RefusedRecord / tfrecord.CorruptRecordError (a record,
    named), FileNotFoundError / ValueError (the folder, named), ConfigError naming the holder when
    a conversion or another index is writing <run>/data (resnext.data.folderlock); nothing is
    written in any case.
    Progress (resnext.progress) counts MB read: a bar on a terminal, else a log line every 10%
    or `progress_seconds`.
    """
    plan, layout, shards = _plan(cfg)
    # <run>/data is the folder `resnext convert` of this run writes too: one writer at a time
    with folderlock.holding(choice.run_data_dir(cfg), plan.shard_dir, "index"):
        return _index(cfg, plan, layout, shards, progress_seconds)


def _index(cfg, plan, layout, shards, progress_seconds):
    """index() once <run>/data is ours: read every shard, then write the manifest."""
    check = recordcheck.RecordCheck(layout, cfg.label_offset, cfg.num_classes, cfg.max_image_pixels)
    total = sum(os.path.getsize(p) for paths in shards.values() for p in paths)
    log.info(
        "indexing %s (%s): %d train and %d validation shards, %.1f MB",
        plan.shard_dir,
        layout.title,
        len(shards["train"]),
        len(shards["validation"]),
        total / 1e6,
    )
    t0 = time.monotonic()
    with progress_mod.Progress(
        "index", total=total / 1e6, unit="MB", every_seconds=progress_seconds
    ) as progress:

        def read(n):
            progress.update(n / 1e6)

        entries = {s: [index_shard(p, check, read) for p in shards[s]] for s in SPLITS}
    for split in SPLITS:
        if not sum(e["num_records"] for e in entries[split]):
            raise ValueError("the %s shards in %s hold no records" % (split, plan.shard_dir))
    convention = _check_convention(check, plan.shard_dir)
    manifest = _manifest(cfg, plan, layout, entries, check, convention)
    atomic.write_json(plan.manifest_path, manifest)
    _log_summary(cfg, manifest, plan, time.monotonic() - t0, total)
    return manifest


def _log_summary(cfg, manifest, plan, seconds, total):
    labels, counts = manifest["labels"], manifest["counts"]
    for split in SPLITS:
        log.info(
            "%s: %d records in %d shards, %d with boxes",
            split,
            counts[split]["records"],
            len(manifest["splits"][split]["shards"]),
            counts[split]["images_with_boxes"],
        )
    log.info(
        "labels %d..%d (%s, %d distinct, %d synsets); %.1f MB in %.1f s -> %s",
        labels["min"],
        labels["max"],
        manifest["label_convention"],
        labels["distinct"],
        len(manifest["label_map"]),
        total / 1e6,
        seconds,
        plan.manifest_path,
    )
    if counts["train"]["records"] != cfg.num_train_images:
        log.warning(
            "train split has %d images but num_train_images is %d; training will refuse this data",
            counts["train"]["records"],
            cfg.num_train_images,
        )
