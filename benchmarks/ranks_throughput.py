#!/usr/bin/env python3
"""Images/sec of the training step on 1 rank at global batch B vs N ranks at B/N each.

Runs `resnext benchmark --mode train --data synthetic` (the training graph, launcher and collective
all-reduce, nothing else) and prints one table row per setting.

usage: benchmarks/ranks_throughput.py [--image-size 32] [--global-batch 32] [--ranks 8]
                                      [--steps 10] [--warmup 3] [--set key=value ...]
"""

import argparse
import tempfile

import resnext_bench


def bench(ranks, batch, args, out_dir):
    settings = ("rank_size=%d" % ranks, "batch_size=%d" % batch, "image_size=%d" % args.image_size)
    return resnext_bench.run("r%d" % ranks, settings, args, out_dir, extra=args.set)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--global-batch", type=int, default=32)
    parser.add_argument("--ranks", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], help="extra config override")
    args = parser.parse_args()
    out_dir = tempfile.mkdtemp(prefix="ranks-bench-")
    print(
        "arch=%s image=%d global_batch=%d steps=%d (+%d warm-up) %s"
        % (
            "resnext50_32x4d",
            args.image_size,
            args.global_batch,
            args.steps,
            args.warmup,
            " ".join(args.set),
        )
    )
    print(
        "%6s %10s %14s %14s %10s" % ("ranks", "per-rank", "img/s (mean)", "img/s (total)", "p50 ms")
    )
    rows = {}
    for ranks in (1, args.ranks):
        r = bench(ranks, args.global_batch // ranks, args, out_dir)
        rows[ranks] = r
        print(
            "%6d %10d %14.2f %14.2f %10.1f"
            % (
                ranks,
                r["batch_size_per_rank"],
                r["images_per_sec_mean"],
                r["images_per_sec_total"],
                r["step_time_ms_p50"],
            )
        )
    ratio = rows[args.ranks]["images_per_sec_total"] / rows[1]["images_per_sec_total"]
    print("%d ranks / 1 rank throughput: %.3f" % (args.ranks, ratio))


if __name__ == "__main__":
    main()
