"""`resnext index` against `sha256sum` over the same shard files (issue 15's goal: >= 0.9x).

Writes TF-slim shards of ImageNet-like records (data_images.py JPEGs, ~100 KB, with every key
build_imagenet_data.py writes) to a temp folder, reads them once so every contender starts from a
warm page cache (the CPU-bound case: from a cold disk all wait on the same reads), then rotates
rounds of `sha256sum <files>`, `openssl dgst -sha256 <files>` (OpenSSL's SHA-256, which uses the
CPU's SHA extensions where coreutils' own code may not: the stricter baseline) and
`resnext.data.index.index` in-process. Prints MB/s by wall clock and by CPU time (the commands:
their children's rusage; index: this process, all threads), per round and as medians, and the
median of the per-round ratios. Not a test.

    .venv/bin/python benchmarks/data_index.py   # [--mb 300] [--repeats 5] [--shards 8] [--keep DIR]
"""

import argparse
import os
import resource
import statistics
import shutil
import subprocess
import time

import numpy as np

import data_images
from resnext.config import load_config
from resnext.data import example, index, tfrecord

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _record(jpeg, k, classes=1000):
    c = k % classes
    synset = b"n%08d" % c
    none = example.floats([])
    return example.example_bytes(
        {
            "image/encoded": jpeg,
            "image/format": b"JPEG",
            "image/colorspace": b"RGB",
            "image/channels": 3,
            "image/height": 375,
            "image/width": 500,
            "image/class/label": c + 1,
            "image/class/synset": synset,
            "image/class/text": b"class text " + synset,
            "image/filename": synset + b"_%d.JPEG" % k,
            "image/object/bbox/xmin": none,
            "image/object/bbox/xmax": none,
            "image/object/bbox/ymin": none,
            "image/object/bbox/ymax": none,
            "image/object/bbox/label": example.ints([]),
        }
    )


def write_shards(folder, megabytes, shards, distinct=64):
    """Train shards of ~`megabytes` MB in all plus one validation shard; returns the paths."""
    rng = np.random.default_rng(0)
    jpegs = [data_images.photo_jpeg(rng, portrait=i % 4 == 3) for i in range(distinct)]
    per_shard = int(megabytes * 1e6 / shards / np.mean([len(j) for j in jpegs]))
    paths, k = [], 0
    names = ["train-%05d-of-%05d" % (s, shards) for s in range(shards)]
    for name in names + ["validation-00000-of-00001"]:
        records = []
        for _ in range(per_shard if name.startswith("train") else max(1, per_shard // 8)):
            records.append(_record(jpegs[k % distinct], k))
            k += 1
        path = os.path.join(folder, name)
        tfrecord.write_records(path, records)
        paths.append(path)
    return paths


def command(argv):
    """(wall s, CPU s) of one run of `argv` (its output discarded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_index(cfg):
    """(wall s, CPU s) of one in-process index (progress off)."""
    cpu, start = time.process_time(), time.perf_counter()
    index.index(cfg)
    return time.perf_counter() - start, time.process_time() - cpu


def _speeds(row, total_mb):
    return "; ".join(
        "%s %.0f MB/s wall, %.0f CPU" % (n, total_mb / w, total_mb / c)
        for n, (w, c) in sorted(row.items())
    )


def _summary(rows, names, total_mb):
    med = {n: [statistics.median(r[n][k] for r in rows) for k in (0, 1)] for n in names}
    print("median: %s" % _speeds(med, total_mb))
    for base in (n for n in names if n != "index"):
        print(
            "index / %s, median of rounds: %.2f wall, %.2f CPU (goal >= 0.9 wall vs sha256sum)"
            % (
                base,
                statistics.median(r[base][0] / r["index"][0] for r in rows),
                statistics.median(r[base][1] / r["index"][1] for r in rows),
            )
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=300.0, help="MB of train shards to write")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", help="work folder to use and keep (default: a temp dir)")
    args = parser.parse_args()
    os.environ.setdefault("RESNEXT_PROGRESS", "off")
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    with data_images.work_dir(args.keep, "data-index-bench-") as root:
        folder = os.path.join(root, "shards")
        os.makedirs(folder, exist_ok=True)
        paths = sorted(os.path.join(folder, n) for n in os.listdir(folder)) or write_shards(
            folder, args.mb, args.shards
        )
        total_mb = sum(os.path.getsize(p) for p in paths) / 1e6
        cfg = load_config(
            [os.path.join(ROOT, "config", "config.yaml")],
            values={
                "data_url": folder,
                "results_dir": os.path.join(root, "results"),
                "label_offset": 1,
                "num_classes": 1001,
            },
        )
        contenders = {
            "sha256sum": lambda: command(["sha256sum"] + paths),
            "index": lambda: run_index(cfg),
        }
        if shutil.which("openssl"):
            contenders["openssl"] = lambda: command(["openssl", "dgst", "-sha256"] + paths)
        contenders["sha256sum"]()  # warm the page cache for all
        print("%d files, %.1f MB; %d cores" % (len(paths), total_mb, os.cpu_count()))
        names, rows = sorted(contenders), []
        for r in range(args.repeats):
            order = names[r % len(names) :] + names[: r % len(names)]
            rows.append({name: contenders[name]() for name in order})
            print("round %d: %s" % (r + 1, _speeds(rows[-1], total_mb)))
        _summary(rows, names, total_mb)
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
