"""What ranks_throughput.py and precision_throughput.py share: one `resnext benchmark` run (the
training step on synthetic data) of config/config.yaml with overrides, its result JSON read back."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(label, settings, args, out_dir, extra=()):
    """`resnext benchmark --steps args.steps --warmup args.warmup` with `--set` for each of
    settings ("key=value"), then results_dir=out_dir, then extra; -> the dict of its result JSON
    (out_dir/<label>.json). A failed run (e.g. bf16 refused on a CPU without AVX-512) exits with
    its last stderr line, not a traceback."""
    out = os.path.join(out_dir, "%s.json" % label)
    cmd = [sys.executable, "-m", "resnext.cli", "benchmark"]
    cmd += ["--config", os.path.join(ROOT, "config", "config.yaml")]
    for item in list(settings) + ["results_dir=%s" % out_dir] + list(extra):
        cmd += ["--set", item]
    cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup), "--out", out]
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        sys.exit(
            "%s: resnext benchmark exited %d: %s" % (label, proc.returncode, (lines or ["?"])[-1])
        )
    with open(out) as f:
        return json.load(f)
