"""data/manifest.json: build it from the shards' sidecars, turn it back into sidecars, verify it.

The manifest is written last, when every shard is complete; it is the dataset's identity in the
report (its sha256) and holds, per split, the shards (name, num_records, sha256, bytes, num_files,
task_sha256, with_boxes, boxes) and the counts, which add up: files = written + skipped, written =
kept + re-encoded, written = the records in the shards. Every skipped, re-encoded or warned-about
file is listed with its reason, split and shard (shard null for files skipped while listing). See
docs/data.md. Host only.
"""

import collections
import logging
import os
import re

from resnext import atomic, paths
from resnext.data import images, layouts, shardwriter, sources, tfrecord

log = logging.getLogger(__name__)

SPLITS = ("train", "validation")
SHARD_RE = re.compile(r"^(train|validation)-\d{5}-of-\d{5}$")
SHARD_KEYS = (
    "name",
    "num_records",
    "sha256",
    "bytes",
    "num_files",
    "task_sha256",
    "with_boxes",
    "boxes",
)
LIST_KEYS = ("skipped", "reencoded", "warnings")


def _entries(sidecars, key, split):
    for side in sidecars:
        for entry in side[key]:
            yield dict(entry, split=split, shard=side["name"])


def _split_counts(sidecars, listing_skips):
    written = sum(s["num_records"] for s in sidecars)
    kinds = collections.Counter(e["kind"] for s in sidecars for e in s["reencoded"])
    skipped = sum(len(s["skipped"]) for s in sidecars) + len(listing_skips)
    return {
        "files": sum(s["num_files"] for s in sidecars) + len(listing_skips),
        "written": written,
        "kept": written - sum(kinds.values()),
        "reencoded": sum(kinds.values()),
        "reencoded_by_kind": dict(sorted(kinds.items())),
        "skipped": skipped,
        "warnings": sum(len(s["warnings"]) for s in sidecars),
        "images_with_boxes": sum(s["with_boxes"] for s in sidecars),
        "boxes": sum(s["boxes"] for s in sidecars),
    }


def _path(path):
    return os.path.abspath(path) if path else None


def build(cfg, listing, sidecars_by_split):
    """The manifest dict from the listing (sources.Listing) and each split's
    sidecars in shard order."""
    manifest = {
        "format": shardwriter.FORMAT,
        "source": os.path.abspath(cfg.source_path),
        "seed": cfg.seed,
        "label_offset": cfg.label_offset,
        "label_map": dict(listing.label_map),
        "class_text": dict(sorted(listing.texts.items())),
        "num_classes_found": len(listing.label_map),
        "synsets_file": _path(sources.option(cfg, "synsets_file")),
        "ground_truth": _path(listing.ground_truth),
        "bbox_dir": _path(sources.option(cfg, "bbox_dir")),
        "bbox_xml_files": listing.num_xml,
        "decoder": images.decoder_name(),
        "reencode_quality": images.REENCODE_QUALITY,
        "splits": {},
        "counts": {},
    }
    lists = {key: [] for key in LIST_KEYS}
    for split in SPLITS:
        sides, plan_skips = sidecars_by_split[split], listing.skipped[split]
        manifest["splits"][split] = {
            "num_images": sum(s["num_records"] for s in sides),
            "shards": [{k: s[k] for k in SHARD_KEYS} for s in sides],
        }
        manifest["counts"][split] = _split_counts(sides, plan_skips)
        lists["skipped"].extend(dict(e, split=split, shard=None) for e in plan_skips)
        for key in LIST_KEYS:
            lists[key].extend(_entries(sides, key, split))
    for key in LIST_KEYS:
        manifest[key] = sorted(lists[key], key=lambda e: (e["path"], e["reason"]))
    return manifest


def to_sidecars(data_dir, tasks, old):
    """Turn the shards an earlier manifest (`old`, a dict or None) lists into sidecars, so they can
    be reused; the caller removes the manifest once the folder is cleared (resnext.data.owned).

    Only shards of a planned task with the same task_sha256 are carried over; whether their bytes
    still match is checked by the worker, as for any sidecar. Returns the number carried over.
    """
    if not old:
        return 0
    planned = {t["name"]: t for t in tasks}
    carried = 0
    for split, entry in sorted((old.get("splits") or {}).items()):
        for shard in entry.get("shards") or []:
            task = planned.get(shard.get("name"))
            side_path = shardwriter.sidecar_path(task["path"]) if task else None
            if (
                not task
                or shard.get("task_sha256") != task["task_sha256"]
                or os.path.exists(side_path)
            ):
                continue
            atomic.write_json(side_path, _sidecar_from(old, split, shard))
            carried += 1
    return carried


def _sidecar_from(old, split, shard):
    side = dict(shard, split=split)
    for key in LIST_KEYS:
        side[key] = [
            {k: v for k, v in e.items() if k not in ("split", "shard")}
            for e in old.get(key) or []
            if e.get("shard") == shard["name"]
        ]
    return side


def _check_shard(data_dir, shard):
    path = os.path.join(data_dir, shard["name"])
    if not os.path.isfile(path):
        return ["%s: missing" % path]
    problems = []
    digest = atomic.sha256_file(path)
    if digest != shard["sha256"]:
        problems.append("%s: sha256 %s, manifest says %s" % (path, digest, shard["sha256"]))
    try:
        tfrecord.check_file(path, shard["num_records"])
    except tfrecord.CorruptRecordError as exc:
        problems.append(str(exc))
    return problems


def _check_counts(split, entry, counts):
    problems = []
    total = sum(s["num_records"] for s in entry["shards"])
    if total != entry["num_images"]:
        problems.append(
            "%s: shards hold %d records, num_images says %d" % (split, total, entry["num_images"])
        )
    if counts and "files" in counts and counts["files"] != counts["written"] + counts["skipped"]:
        problems.append(
            "%s: %d files but %d written + %d skipped"
            % (split, counts["files"], counts["written"], counts["skipped"])
        )
    written = counts.get("written", counts.get("records")) if counts else None
    if written is not None and written != total:
        problems.append("%s: %d written, the shards hold %d" % (split, written, total))
    return problems


def verify(data_dir, path=None):
    """Re-read from data_dir every shard the manifest at `path` lists (default data_dir's own).

    A list of problems (empty = all good): each shard exists, its sha256 and framing/record count
    match, the counts add up, and no unlisted shard file of the manifest's layout sits in the
    folder (the pipeline would refuse it).
    """
    path = path or paths.manifest(data_dir)
    if not os.path.isfile(path):
        return ["%s: missing" % path]
    manifest = atomic.read_json(path)
    layout = layouts.by_name(manifest.get("layout"))
    problems, listed = [], set()
    for split, entry in sorted(manifest["splits"].items()):
        for shard in entry["shards"]:
            listed.add(shard["name"])
            problems.extend(_check_shard(data_dir, shard))
        problems.extend(_check_counts(split, entry, (manifest.get("counts") or {}).get(split)))
    names = os.listdir(data_dir)
    extra = sorted(
        n for split in SPLITS for n in layouts.shard_names(names, layout, split) if n not in listed
    )
    problems.extend(
        "%s: shard not listed in the manifest" % os.path.join(data_dir, n) for n in extra
    )
    return problems
