"""JPEG tree -> TF-slim TFRecord shards plus data/manifest.json, and a verifier for the result.

Input  `cfg.source_path`: train/<synset>/<file>, val/<synset>/<file> (ImageNet layout).
Output `cfg.data_dir`:    train-00000-of-0000N ... validation-00000-of-0000M, manifest.json.

Labels are the sorted index of the synset among the train classes plus `cfg.label_offset`
(1 for TF-slim ImageNet: labels 1..1000, 0 = background). The train list is shuffled with
`cfg.seed`; validation keeps sorted order. Each split is cut into contiguous chunks, one shard
per chunk, written by a pool of `cfg.convert_workers` processes. Every file is decoded with PIL
first: empty or undecodable files are skipped, non-JPEG or CMYK/other-mode images are re-encoded
as RGB JPEG (as TF-slim's converter does), and both lists go into the manifest with the reason.
Host only.
"""
from concurrent import futures
import io
import logging
import multiprocessing
import os
import random
import re

from resnext import atomic
from resnext.config import ConfigError
from resnext.data import tfrecord

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SPLITS = (("train", "train"), ("validation", "val"))  # (output name, source folder)
SHARD_RE = re.compile(r"^(train|validation)-\d{5}-of-\d{5}$")
JPEG_QUALITY = 95


def shard_name(split, index, total):
    """'train', 3, 4 -> 'train-00003-of-00004'."""
    return "%s-%05d-of-%05d" % (split, index, total)


def list_classes(source):
    """Sorted synset folder names of source/train; raises FileNotFoundError if there are none."""
    train_dir = os.path.join(source, "train")
    if not os.path.isdir(train_dir):
        raise FileNotFoundError("no train/ folder in the JPEG tree %s" % source)
    classes = sorted(d for d in os.listdir(train_dir) if os.path.isdir(os.path.join(train_dir, d)))
    if not classes:
        raise FileNotFoundError("no class folders in %s" % train_dir)
    return classes


def list_split(source, folder, label_map):
    """[(path, label, synset)] of every file under source/<folder>/<synset>/, sorted by path."""
    split_dir = os.path.join(source, folder)
    if not os.path.isdir(split_dir):
        raise FileNotFoundError("no %s/ folder in the JPEG tree %s" % (folder, source))
    items = []
    for syn in sorted(os.listdir(split_dir)):
        class_dir = os.path.join(split_dir, syn)
        if not os.path.isdir(class_dir):
            continue
        if syn not in label_map:
            raise ValueError("class folder %s has no counterpart in train/ (labels come from train/)" % class_dir)
        for name in sorted(os.listdir(class_dir)):
            path = os.path.join(class_dir, name)
            if os.path.isfile(path):
                items.append((path, label_map[syn], syn))
    return items


def check_image(path):
    """Decode one file with PIL.

    Returns (jpeg_bytes, height, width, note): note is None for a usable RGB/grey JPEG, or the reason
    it was re-encoded. Raises ValueError with the reason when the file cannot be used.
    """
    from PIL import Image
    with io.open(path, "rb") as f:
        data = f.read()
    if not data:
        raise ValueError("empty file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            fmt, mode, (width, height) = img.format, img.mode, img.size
            if fmt == "JPEG" and mode in ("RGB", "L"):
                return data, height, width, None
            buf = io.BytesIO()
            img.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY)
    except Exception as exc:  # PIL raises many types for bad files; each is a skip reason
        raise ValueError("cannot decode: %s: %s" % (type(exc).__name__, exc))
    return buf.getvalue(), height, width, "%s image in mode %s re-encoded as RGB JPEG" % (fmt, mode)


def _records(items, skipped, reencoded):
    for path, label, syn in items:
        try:
            data, height, width, note = check_image(path)
        except (ValueError, OSError) as exc:
            log.warning("skipping %s: %s", path, exc)
            skipped.append({"path": path, "reason": str(exc)})
            continue
        if note:
            reencoded.append({"path": path, "reason": note})
        yield tfrecord.example_bytes({
            "image/encoded": data, "image/format": b"JPEG", "image/class/label": int(label),
            "image/class/synset": syn.encode("utf-8"), "image/height": int(height),
            "image/width": int(width), "image/filename": os.path.basename(path).encode("utf-8")})


def write_shard(task):
    """Pool task: (out_path, [(path, label, synset)]) -> shard entry plus skipped/re-encoded lists."""
    out_path, items = task
    skipped, reencoded = [], []
    count, digest = tfrecord.write_records(out_path, _records(items, skipped, reencoded))
    return {"name": os.path.basename(out_path), "num_records": count, "sha256": digest,
            "skipped": skipped, "reencoded": reencoded}


def chunks(items, num_shards):
    """Split a list into num_shards contiguous chunks whose sizes differ by at most one."""
    n = len(items)
    return [items[n * k // num_shards:n * (k + 1) // num_shards] for k in range(num_shards)]


def plan(cfg):
    """Label map and the shard tasks of both splits: ({synset: label}, [(out_path, items)])."""
    source = cfg.source_path
    classes = list_classes(source)
    label_map = {syn: i + cfg.label_offset for i, syn in enumerate(classes)}
    top = max(label_map.values())
    if top >= cfg.num_classes:
        raise ConfigError("num_classes is %d but %s holds %d classes; with label_offset %d the largest label "
                          "is %d, so num_classes must be at least %d"
                          % (cfg.num_classes, source, len(classes), cfg.label_offset, top, top + 1))
    tasks = []
    for split, folder in SPLITS:
        items = list_split(source, folder, label_map)
        if split == "train":
            random.Random(cfg.seed).shuffle(items)
        total = cfg.train_shards if split == "train" else cfg.validation_shards
        if len(items) < total:
            log.warning("%s: %d images for %d shards; some shards will be empty", split, len(items), total)
        for k, chunk in enumerate(chunks(items, total)):
            tasks.append((os.path.join(cfg.data_dir, shard_name(split, k, total)), chunk))
    return label_map, tasks


def _clear_outputs(data_dir, keep):
    """Remove the manifest and shard files (or temp files) that this conversion will not write."""
    if not os.path.isdir(data_dir):
        return
    for name in sorted(os.listdir(data_dir)):
        stem = name.split(".")[0]
        if name == MANIFEST or (SHARD_RE.match(stem) and name not in keep):
            os.remove(os.path.join(data_dir, name))
            log.info("removed stale %s", os.path.join(data_dir, name))


def _run_tasks(tasks, workers):
    """Run write_shard over tasks (in-process for one worker); results in task order.

    Workers are spawned (a clean interpreter each, safe even when the parent already runs
    TensorFlow threads); a worker that dies raises BrokenProcessPool instead of hanging.
    """
    results = [None] * len(tasks)
    if workers <= 1 or len(tasks) <= 1:
        _collect(((i, write_shard(t)) for i, t in enumerate(tasks)), results)
        return results
    context = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context) as pool:
        jobs = [pool.submit(_indexed_write, (i, t)) for i, t in enumerate(tasks)]
        _collect((job.result() for job in futures.as_completed(jobs)), results)
    return results


def _collect(done_iter, results):
    for done, (i, result) in enumerate(done_iter, 1):
        results[i] = result
        log.info("wrote %s: %d records, %d skipped [%d/%d shards]", result["name"],
                 result["num_records"], len(result["skipped"]), done, len(results))


def _indexed_write(indexed_task):
    index, task = indexed_task
    return index, write_shard(task)


def _split_entry(results, split):
    shards = [{k: r[k] for k in ("name", "num_records", "sha256")} for r in results
              if r["name"].startswith(split + "-")]
    return {"num_images": sum(s["num_records"] for s in shards), "shards": shards}


def convert(cfg):
    """Convert cfg.source_path into TFRecord shards in cfg.data_dir; write and return the manifest.

    Raises ConfigError (naming num_classes) when a label would not fit the classifier, and
    FileNotFoundError/ValueError naming the folder when the tree is malformed. Nothing is written
    in those cases. manifest.json is written last, only after every shard is complete.
    """
    label_map, tasks = plan(cfg)
    _clear_outputs(cfg.data_dir, {os.path.basename(path) for path, _ in tasks})
    log.info("converting %s -> %s: %d shards, %d workers", cfg.source_path, cfg.data_dir,
             len(tasks), cfg.convert_workers)
    results = _run_tasks(tasks, cfg.convert_workers)
    manifest = {
        "splits": {split: _split_entry(results, split) for split, _ in SPLITS},
        "label_map": label_map, "label_offset": cfg.label_offset, "num_classes_found": len(label_map),
        "skipped": sorted((s for r in results for s in r["skipped"]), key=lambda s: s["path"]),
        "reencoded": sorted((s for r in results for s in r["reencoded"]), key=lambda s: s["path"]),
        "source": os.path.abspath(cfg.source_path), "seed": cfg.seed}
    found = manifest["splits"]["train"]["num_images"]
    if found != cfg.num_train_images:
        log.warning("train split has %d images but num_train_images is %d; training will refuse this data",
                    found, cfg.num_train_images)
    atomic.write_json(os.path.join(cfg.data_dir, MANIFEST), manifest)
    log.info("manifest: %d train, %d validation, %d skipped", found,
             manifest["splits"]["validation"]["num_images"], len(manifest["skipped"]))
    return manifest


def _check_shard(data_dir, shard):
    path = os.path.join(data_dir, shard["name"])
    if not os.path.isfile(path):
        return ["%s: missing" % path]
    problems = []
    digest = tfrecord.sha256_file(path)
    if digest != shard["sha256"]:
        problems.append("%s: sha256 %s, manifest says %s" % (path, digest, shard["sha256"]))
    try:
        count = tfrecord.count_records(path)
    except tfrecord.CorruptRecordError as exc:
        return problems + [str(exc)]
    if count != shard["num_records"]:
        problems.append("%s: %d records, manifest says %d" % (path, count, shard["num_records"]))
    return problems


def verify(cfg):
    """Re-read every shard of cfg.data_dir/manifest.json; return a list of problems (empty = all good).

    Checks: each listed shard exists, its sha256 and record count match, split totals add up, and no
    unlisted shard file sits in the folder (the pipeline would read it).
    """
    path = os.path.join(cfg.data_dir, MANIFEST)
    if not os.path.isfile(path):
        return ["%s: missing" % path]
    manifest = atomic.read_json(path)
    problems, listed = [], set()
    for split, entry in sorted(manifest["splits"].items()):
        for shard in entry["shards"]:
            listed.add(shard["name"])
            problems.extend(_check_shard(cfg.data_dir, shard))
        total = sum(s["num_records"] for s in entry["shards"])
        if total != entry["num_images"]:
            problems.append("%s: shards hold %d records, num_images says %d" % (split, total, entry["num_images"]))
    extra = sorted(n for n in os.listdir(cfg.data_dir) if SHARD_RE.match(n) and n not in listed)
    problems.extend("%s: shard not listed in the manifest" % os.path.join(cfg.data_dir, n) for n in extra)
    return problems
