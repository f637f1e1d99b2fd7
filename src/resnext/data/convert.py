"""JPEG tree -> TF-slim TFRecord shards plus data/manifest.json (resumable), and the verifier.

Input  `cfg.source_path` (see resnext.data.sources for the accepted layouts and label files).
Output `cfg.data_dir`: train-00000-of-NNNNN ... validation-00000-of-MMMMM, manifest.json.

The train list (sorted by path) gets a shuffle seeded with `cfg.seed`; validation keeps path
order. Each split is cut into `train_shards` / `validation_shards` contiguous chunks, one shard
each, written by `convert_workers` spawned processes (resnext.data.workers, .shardwriter): every
image is decoded once to check it, clean colour JPEGs keep their bytes, the rest are re-encoded
or skipped with a reason. Each finished shard leaves a `<shard>.json` sidecar; a rerun reuses
every shard whose sidecar (or the earlier manifest) names the same inputs and whose sha256 still
matches, and redoes the rest, so a killed conversion resumes to byte-identical shards.
manifest.json is written last, folding the sidecars (which are then removed). Only files the
converter can prove it wrote are ever removed or replaced (resnext.data.owned); a folder holding
others is refused before anything is written. Host only.
"""

import logging
import os
import random

from resnext import atomic, paths
from resnext import progress as progress_mod
from resnext.config import ConfigError
from resnext.data import manifest as manifests
from resnext.data import choice, folderlock, owned, shardwriter, sources
from resnext.data import workers as workers_mod

log = logging.getLogger(__name__)


def shard_name(split, index, total):
    """'train', 3, 4 -> 'train-00003-of-00004'."""
    return "%s-%05d-of-%05d" % (split, index, total)


def chunks(items, num_shards):
    """Split a list into num_shards contiguous chunks whose sizes differ by at most one."""
    n = len(items)
    return [items[n * k // num_shards : n * (k + 1) // num_shards] for k in range(num_shards)]


def _check_labels(cfg, listing):
    top = max(listing.label_map.values())
    if top >= cfg.num_classes:
        raise ConfigError(
            "num_classes is %d but %s holds %d classes; with label_offset %d the largest label "
            "is %d, so num_classes must be at least %d"
            % (
                cfg.num_classes,
                cfg.source_path,
                len(listing.label_map),
                cfg.label_offset,
                top,
                top + 1,
            )
        )


def plan(cfg):
    """(sources.Listing, tasks): what to convert, one task per output shard, train shards first."""
    listing = sources.list_sources(cfg)
    _check_labels(cfg, listing)
    tasks = []
    for split in manifests.SPLITS:
        items = list(listing.items[split])
        if split == "train":
            random.Random(cfg.seed).shuffle(items)
        total = cfg.train_shards if split == "train" else cfg.validation_shards
        if len(items) < total:
            log.warning(
                "%s: %d images for %d shards; some shards will be empty", split, len(items), total
            )
        for k, chunk in enumerate(chunks(items, total)):
            name = shard_name(split, k, total)
            limit = cfg.max_image_pixels
            tasks.append(
                {
                    "name": name,
                    "split": split,
                    "path": os.path.join(cfg.data_dir, name),
                    "items": chunk,
                    "max_image_pixels": limit,
                    "task_sha256": shardwriter.task_digest(split, name, chunk, limit),
                }
            )
    return listing, tasks


def _clear_outputs(data_dir, tasks, found):
    """Remove what the converter wrote and will not reuse: temp files, shards (with their sidecars)
    of other plans or of changed inputs, sidecars without a shard; then the earlier manifest.

    `found` is owned.survey's proof that every one of these is ours. A planned shard is kept when
    its sidecar (carried over from the manifest, or left by a killed run) names the same inputs.
    """
    sidecars = dict(found.sidecars)
    for task in tasks:
        path = shardwriter.sidecar_path(task["path"])
        if task["name"] not in sidecars and os.path.isfile(path):
            sidecars[task["name"]] = atomic.read_json(path)  # carried over just now
    keep = {
        t["name"]
        for t in tasks
        if (sidecars.get(t["name"]) or {}).get("task_sha256") == t["task_sha256"]
    }
    stale = list(found.temps)
    stale += [n for n in found.shards if n not in keep]
    stale += [n + shardwriter.SIDECAR_SUFFIX for n in sorted(sidecars) if n not in keep]
    for name in stale:
        path = os.path.join(data_dir, name)
        if os.path.lexists(path):
            os.remove(path)
            log.info("removed stale %s", path)
    if found.manifest is not None:
        # last: until now it proved the shards it lists ours
        os.remove(paths.manifest(data_dir))


def run_tasks(tasks, label_map, workers, progress):
    """Run every task (reusing complete shards); ([sidecar] in task order, number reused)."""
    results, reused = [None] * len(tasks), []

    def on_done(index, result, was_reused):
        results[index] = result
        reused.append(was_reused)
        log.debug(
            "%s %s: %d records, %d skipped [%d/%d shards]",
            "reused" if was_reused else "wrote",
            result["name"],
            result["num_records"],
            len(result["skipped"]),
            len(reused),
            len(tasks),
        )

    if workers <= 1 or len(tasks) <= 1:
        with shardwriter.ShardPipeline(label_map, progress.update, on_done) as pipeline:
            for index, task in enumerate(tasks):
                pipeline.run(index, task)
            pipeline.finish()
    else:
        workers_mod.run_parallel(tasks, label_map, workers, progress, on_done)
    return results, sum(reused)


def convert(cfg, progress_seconds=progress_mod.EVERY_SECONDS):
    """Convert cfg.source_path into shards in cfg.data_dir; write and return the manifest.

    Raises ConfigError (naming num_classes) when a label would not fit the classifier,
    owned.ForeignFiles naming the files when the folder holds shard-named files the converter did
    not write (it never deletes or overwrites those), and FileNotFoundError/ValueError naming the
    folder or file when the inputs are malformed; nothing is written or removed in those cases.
    Progress (resnext.progress): a bar on a terminal, else a log line every 10% of the images or
    `progress_seconds`, whichever comes first.
    """
    listing, tasks = plan(cfg)
    # held from here to the manifest (resnext.data.folderlock): a second convert, or an index of
    # this run, is refused at once; removed when done, so a refused or finished conversion leaves
    # the folder as it found it; a killed one leaves it, not held: the next conversion takes it
    with folderlock.holding(cfg.data_dir, cfg.source_path, "convert"):
        return _convert(cfg, listing, tasks, progress_seconds)


def _convert(cfg, listing, tasks, progress_seconds):
    """convert() once the folder is ours: survey it, write the shards, then the manifest."""
    data_dir = cfg.data_dir
    found = owned.survey(data_dir)  # refuses, changing nothing, when a file named like ours is not
    carried = manifests.to_sidecars(data_dir, tasks, found.manifest)
    _clear_outputs(data_dir, tasks, found)
    total = sum(len(t["items"]) for t in tasks)
    log.info(
        "converting %s -> %s: %d files in %d shards, %d workers%s",
        cfg.source_path,
        data_dir,
        total,
        len(tasks),
        cfg.convert_workers,
        " (%d shards carried over from manifest)" % carried if carried else "",
    )
    progress = progress_mod.Progress(
        "convert", total=total, unit="images", every_seconds=progress_seconds
    )
    results, reused = run_tasks(tasks, dict(listing.label_map), cfg.convert_workers, progress)
    progress.close()
    by_split = {s: [r for r in results if r["split"] == s] for s in manifests.SPLITS}
    manifest = manifests.build(cfg, listing, by_split)
    atomic.write_json(paths.manifest(data_dir), manifest)
    for task in tasks:
        os.remove(shardwriter.sidecar_path(task["path"]))
    _log_summary(cfg, manifest, reused, len(tasks))
    return manifest


def _log_summary(cfg, manifest, reused, num_shards):
    counts = manifest["counts"]
    for split in manifests.SPLITS:
        c = counts[split]
        kinds = " %s" % c["reencoded_by_kind"] if c["reencoded"] else ""
        log.info(
            "%s: %d files -> %d records (%d kept, %d re-encoded%s), %d skipped, %d with warnings",
            split,
            c["files"],
            c["written"],
            c["kept"],
            c["reencoded"],
            kinds,
            c["skipped"],
            c["warnings"],
        )
    if reused:
        log.info("reused %d of %d shards from an earlier run", reused, num_shards)
    if counts["train"]["written"] != cfg.num_train_images:
        log.warning(
            "train split has %d images but num_train_images is %d; training will refuse this data",
            counts["train"]["written"],
            cfg.num_train_images,
        )


def verify(cfg):
    """Re-read every shard the run's manifest lists (converted or indexed); a list of problems."""
    plan = choice.decide(cfg)
    return manifests.verify(plan.shard_dir, plan.manifest_path)
