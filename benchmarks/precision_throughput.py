#!/usr/bin/env python3
"""Training images/sec in fp32 vs bf16 (oneDNN auto-mixed-precision rewrite) on this CPU.

usage: benchmarks/precision_throughput.py [--image-size 224] [--batch 16] [--steps 8] [--warmup 3]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bench(precision, args, out_dir):
    out = os.path.join(out_dir, "%s.json" % precision)
    cmd = [
        sys.executable,
        "-m",
        "resnext.cli",
        "benchmark",
        "--config",
        os.path.join(ROOT, "config", "config.yaml"),
        "--set",
        "precision_mode=%s" % precision,
        "--set",
        "image_size=%d" % args.image_size,
        "--set",
        "batch_size=%d" % args.batch,
        "--set",
        "num_classes=1001",
        "--set",
        "results_dir=%s" % out_dir,
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--out",
        out,
    ]
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:  # e.g. bf16 refused on a CPU without AVX-512: say why, not a traceback
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        sys.exit(
            "%s: resnext benchmark exited %d: %s"
            % (precision, proc.returncode, (lines or ["?"])[-1])
        )
    with open(out) as f:
        return json.load(f)


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
