#!/usr/bin/env python3
"""Training images/sec in fp32 vs bf16 (oneDNN auto-mixed-precision rewrite) on this CPU.

usage: benchmarks/precision_throughput.py [--image-size 224] [--batch 16] [--steps 8] [--warmup 3]
"""

import argparse
import tempfile

import resnext_bench


def bench(precision, args, out_dir):
    settings = (
        "precision_mode=%s" % precision,
        "image_size=%d" % args.image_size,
        "batch_size=%d" % args.batch,
        "num_classes=1001",
    )
    return resnext_bench.run(precision, settings, args, out_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    out_dir = tempfile.mkdtemp(prefix="precision-bench-")
    print(
        "resnext50_32x4d train step, %dx%d, batch %d, 1 rank, synthetic data"
        % (args.image_size, args.image_size, args.batch)
    )
    rates = {}
    for precision in ("fp32", "bf16"):
        r = bench(precision, args, out_dir)
        rates[precision] = r["images_per_sec_total"]
        print(
            "%-5s %8.2f images/s (mean %.2f, MAD %.2f, p50 %.0f ms)"
            % (
                precision,
                r["images_per_sec_total"],
                r["images_per_sec_mean"],
                r["images_per_sec_mad"],
                r["step_time_ms_p50"],
            )
        )
    print("bf16 / fp32: %.2fx" % (rates["bf16"] / rates["fp32"]))


if __name__ == "__main__":
    main()
