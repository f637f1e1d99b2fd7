#!/usr/bin/env python3
"""Conversion images/s per worker against decode-only throughput of the same JPEGs.

usage: .venv/bin/python benchmarks/data_convert.py [--images 400] [--repeats 5] [--workers 2]
                                                   [--shard-size 100] [--keep DIR]
                                                   [--out-dir DIR] [--pillow]

Writes --images ImageNet-like JPEGs (benchmarks/data_images.py) to a temp dir, then alternates,
--repeats times:
  decode-only   one process reads every file and fully decodes it with the decoder conversion
                validates with (simplejpeg into a reused buffer; Pillow when simplejpeg is absent):
                the issue's baseline
  scaled decode the same, decoding at 1/8 scale as conversion's check of RGB JPEGs does
                (images.SCALED_CHECK; skipped with --pillow or when the check is full-size)
  convert x1    `resnext.data.convert.convert` end to end with convert_workers=1 (in-process):
                listing, decode check, records, framing, sha256, atomic shard writes, manifest
and reports medians and the median of the per-round ratios, by wall clock and by CPU time
(process_time: this process and all its threads; steadier than wall clock on a shared machine, and
it charges conversion for the work its writer thread does): convert x1 against full decode-only
(goal >= 0.9x) and against the scaled decode alone (what conversion costs beyond its validation).
The load average is printed before and after (other jobs on the machine move every figure).
Then the cost of conversion beyond the decode, by CPU time per image: convert x1 again, --repeats
times, with the decode check stubbed out (a diagnostic: the decode's own run-to-run spread, ~5% on a
shared machine, swamps differences of 10-20 us per image in the ratios above; this figure does not
have it). Then, once each for reference: Pillow decode-only, TensorFlow decode_jpeg (eager)
decode-only, and convert with --workers worker processes (total and per worker; includes spawning
the workers).
"""

import argparse
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data_images  # noqa: E402

from resnext.config import load_config  # noqa: E402
from resnext.data import convert, images  # noqa: E402


def decode_only(paths, scale=1):
    """(wall s, CPU s) to read + decode every file with conversion's decoder
    (at 1/scale: 1 or 8)."""
    buffer, least = bytearray(), 1 if scale > 1 else 0
    os.sync()
    start, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        if images.simplejpeg is None:
            images.check_with_pillow(data)
            continue
        height, width, _, _ = images.simplejpeg.decode_jpeg_header(data)
        needed = -(-height // scale) * -(-width // scale) * 3
        if len(buffer) < needed:
            buffer = bytearray(needed)
        images.simplejpeg.decode_jpeg(
            data, colorspace="RGB", buffer=buffer, strict=True, min_height=least, min_width=least
        )
    return time.perf_counter() - start, time.process_time() - cpu


def decode_pillow(paths):
    from PIL import Image

    start = time.perf_counter()
    for path in paths:
        with Image.open(path) as img:
            img.load()
    return time.perf_counter() - start


def decode_tensorflow(paths):
    import tensorflow as tf  # eager TF 2: one decode_jpeg op per file

    datas = []
    for path in paths:
        with open(path, "rb") as f:
            datas.append(f.read())
    tf.io.decode_jpeg(datas[0], channels=3)  # first-call setup outside the timing
    start = time.perf_counter()
    for data in datas:
        tf.io.decode_jpeg(data, channels=3)
    return time.perf_counter() - start


def overhead_per_image(source, out, num_train, shards, repeats):
    """Median CPU us per image of convert x1 with the decode check stubbed out
    (everything else as is)."""
    real = images.Checker._decode
    images.Checker._decode = lambda self, data, height, width: None
    try:
        rounds = [convert_seconds(source, out, 1, num_train, shards) for _ in range(repeats)]
    finally:
        images.Checker._decode = real
    return statistics.median(cpu / written for _, cpu, written in rounds) * 1e6


def convert_seconds(source, out, workers, num_train, shards):
    """(wall s, CPU s of this process and its threads, images written) of one conversion."""
    shutil.rmtree(out, ignore_errors=True)
    os.sync()  # the last round's deletions and write-back must not land in this round's timing
    cfg = load_config(
        [],
        values=dict(
            results_dir=out,
            run_name="bench",
            source_dir=source,
            num_classes=10,
            label_offset=0,
            train_shards=shards[0],
            validation_shards=shards[1],
            convert_workers=workers,
            num_train_images=num_train,
        ),
    )
    start, cpu = time.perf_counter(), time.process_time()
    manifest = convert.convert(cfg)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    written = sum(manifest["counts"][s]["written"] for s in ("train", "validation"))
    return seconds, cpu, written


def timed_rounds(args, paths, source, out, num_train, shards, scaled):
    """Alternating rounds of full decode-only, scaled decode (if `scaled`) and convert x1;
    medians."""
    rows, decode_cpu_us, scaled_cpu_us, n = [], [], [], float(len(paths))
    for r in range(args.repeats):
        decode_wall, decode_cpu = decode_only(paths)
        decode_cpu_us.append(decode_cpu / n * 1e6)
        scaled_wall, scaled_cpu = (
            decode_only(paths, scale=8) if scaled else (decode_wall, decode_cpu)
        )
        scaled_cpu_us.append(scaled_cpu / n * 1e6)
        wall, cpu, written = convert_seconds(source, out, 1, num_train, shards)
        assert written == len(paths)
        rows.append(
            (
                n / decode_wall,
                n / wall,
                decode_wall / wall,
                decode_cpu / cpu,
                n / scaled_wall,
                scaled_wall / wall,
                scaled_cpu / cpu,
            )
        )
        print(
            "  round %d: decode-only %.1f images/s, scaled %.1f, convert x1 %.1f images/s; ratio "
            "to full wall %.3f, CPU %.3f; to scaled wall %.3f, CPU %.3f"
            % ((r + 1,) + tuple(rows[-1][i] for i in (0, 4, 1, 2, 3, 5, 6)))
        )
    return (
        [statistics.median(col) for col in zip(*rows)],
        decode_cpu_us,
        scaled_cpu_us if scaled else [],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--shard-size", type=int, default=100, help="images per shard (default 100)"
    )
    parser.add_argument(
        "--keep", help="write the tree and outputs here (default: a temp dir, removed)"
    )
    parser.add_argument(
        "--out-dir", help="write the shards here instead (e.g. /dev/shm to leave the disk out)"
    )
    parser.add_argument(
        "--pillow",
        action="store_true",
        help="validate (and time decode-only) with Pillow, "
        "as conversion does when simplejpeg is not installed",
    )
    args = parser.parse_args()
    if args.pillow:
        images.simplejpeg = None
    with data_images.work_dir(args.keep, "data-convert-bench-") as root:
        run(args, root)


def print_ratios(med, scaled):
    print("decode-only (conversion's decoder, full size), 1 process: median %.1f images/s" % med[0])
    if scaled:
        print(
            "scaled decode (1/8, conversion's check), 1 process:      median %.1f images/s" % med[4]
        )
    print("convert, 1 worker:                                        median %.1f images/s" % med[1])
    print(
        "convert / full decode-only per worker, median of rounds: wall-clock %.3f, CPU time %.3f "
        "(goal >= 0.9)" % (med[2], med[3])
    )
    if scaled:
        print(
            "convert / scaled decode alone, median of rounds:          wall-clock %.3f, CPU time "
            "%.3f (the cost beyond validation)" % (med[5], med[6])
        )


def print_beyond_the_decode(source, out, num_train, shards, repeats, decode_cpu_us, scaled_cpu_us):
    extra = overhead_per_image(source, out, num_train, shards, repeats)
    full, check = (
        statistics.median(decode_cpu_us),
        statistics.median(scaled_cpu_us or decode_cpu_us),
    )
    print(
        "conversion beyond the decode (decode stubbed out): median %.0f us/image CPU; %.0f us "
        "would be 0.9x of full decode-only's CPU time here "
        "(check %.0f us, full decode %.0f us per image)" % (extra, full / 0.9 - check, check, full)
    )


def run(args, root):
    source = os.path.join(root, "source")
    out = (
        os.path.join(args.out_dir, "data-convert-bench-out")
        if args.out_dir
        else os.path.join(root, "out")
    )
    paths, gen_s, mean_bytes = data_images.write_tree(source, args.images)
    num_train = sum(1 for p in paths if os.sep + "train" + os.sep in p)
    print(
        "%d JPEGs (%dx%d / %dx%d, quality %d, mean %.0f KB) written in %.1f s; decoder: %s"
        % (
            len(paths),
            data_images.WIDTH,
            data_images.HEIGHT,
            data_images.HEIGHT,
            data_images.WIDTH,
            data_images.QUALITY,
            mean_bytes / 1024.0,
            gen_s,
            images.decoder_name(),
        )
    )
    shards = (
        max(1, num_train // args.shard_size),
        max(1, (len(paths) - num_train) // args.shard_size),
    )
    print(
        "shards: %d train + %d validation (~%d images each; ILSVRC-2012 at 1024/128 has ~1251/~391)"
        % (shards[0], shards[1], args.shard_size)
    )
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    scaled = images.simplejpeg is not None and images.SCALED_CHECK
    med, decode_cpu_us, scaled_cpu_us = timed_rounds(
        args, paths, source, out, num_train, shards, scaled
    )
    print_ratios(med, scaled)
    if images.simplejpeg is not None:
        print_beyond_the_decode(
            source, out, num_train, shards, args.repeats, decode_cpu_us, scaled_cpu_us
        )
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())
    print(
        "reference, once each: Pillow decode-only %.1f images/s, TensorFlow decode_jpeg (eager) "
        "%.1f images/s" % (len(paths) / decode_pillow(paths), len(paths) / decode_tensorflow(paths))
    )
    wall, _, written = convert_seconds(source, out, args.workers, num_train, shards)
    print(
        "convert, %d workers: %.1f images/s total, %.1f per worker (incl. spawning workers; %d "
        "cores here)"
        % (args.workers, written / wall, written / wall / args.workers, os.cpu_count())
    )
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
