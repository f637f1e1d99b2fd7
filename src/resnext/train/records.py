"""Training records: metrics.jsonl lines and train/block-<b>.json, plus environment facts.

Python 3.7, no TensorFlow at import (versions are read lazily).
"""

import datetime
import json
import os
import platform
import socket
import sys

from resnext import __version__, atomic, paths


def utc_now():
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None)
    return now.isoformat() + "Z"


def read_jsonl(path):
    """A JSON-lines file -> list of dicts ([] when missing; a torn line, from a kill mid-write, is
    ignored)."""
    rows = []
    if not os.path.isfile(path):
        return rows
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


def read_metrics(cfg):
    """metrics.jsonl -> list of dicts (see read_jsonl)."""
    return read_jsonl(paths.metrics(cfg.train_dir))


def truncate_metrics(cfg, start_step):
    """Drop lines past `start_step` (from a block killed before its checkpoint) before it reruns."""
    rows = read_metrics(cfg)
    kept = [r for r in rows if r["step"] <= start_step]
    if len(kept) != len(rows) or (rows and not os.path.getsize(paths.metrics(cfg.train_dir))):
        text = "".join(atomic.json_text(r) + "\n" for r in kept)
        atomic.write_text(paths.metrics(cfg.train_dir), text)


def driver_version():
    """Ascend driver version when the host has one, else None (CPU)."""
    path = "/usr/local/Ascend/driver/version.info"
    if os.path.isfile(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Version="):
                    return line.split("=", 1)[1].strip()
    return None


def versions():
    import numpy
    from resnext.compat import TF_VERSION

    return {
        "python": platform.python_version(),
        "tensorflow": TF_VERSION,
        "numpy": numpy.__version__,
        "resnext": __version__,
        "driver": driver_version(),
    }


def _summary(loops, warmup):
    steady = loops[warmup:] or loops
    rates = [r["images_per_sec"] for r in steady]
    steps = sum(r["steps"] for r in steady)
    ms = sum(r["step_time_ms"] * r["steps"] for r in steady) / max(1, steps)
    return rates, ms


def write_block_record(cfg, block, start, end, loops, started, wall_s, backend, recovered=False):
    """Write train/block-<b>.json atomically and return it."""
    warmup = 1 if len(loops) > 1 else 0  # the first loop pays for graph build and caches
    rates, ms = _summary(loops, warmup)
    images = (end - start) * cfg.global_batch
    rec = {
        "block": block,
        "start_step": start,
        "end_step": end,
        "steps": end - start,
        "images": images,
        "wall_time_s": wall_s,
        "images_per_sec": images / wall_s if wall_s else None,
        "images_per_sec_loops": [r["images_per_sec"] for r in loops],
        "warmup_loops_excluded": warmup,
        "images_per_sec_steady": sum(rates) / len(rates) if rates else None,
        "step_time_ms_mean": ms,
        "rank_size": cfg.rank_size,
        "backend": cfg.backend,
        "precision_mode": cfg.precision_mode,
        "started_utc": started,
        "finished_utc": utc_now(),
        "checkpoint": paths.ckpt_prefix(cfg.train_dir, end),
        "config_sha256": cfg.sha256(),
        "recipe_sha256": cfg.sha256("training"),
        "hostnames": sorted(set(getattr(backend, "hostnames", [socket.gethostname()]))),
        "seed": cfg.seed,
        "versions": versions(),
        "final_loss": loops[-1]["loss"] if loops else None,
        "recovered": recovered,
        "argv": list(sys.argv),
    }
    atomic.write_json(paths.block_record(cfg.train_dir, block), rec)
    return rec


class _NoBackend:
    hostnames = [socket.gethostname()]


def ensure_block_record(cfg, block, end):
    """A checkpoint at `end` exists but block-<b>.json may not (killed in between): rebuild it
    from metrics.jsonl, marked recovered, so the run completes without retraining."""
    if os.path.isfile(paths.block_record(cfg.train_dir, block)):
        return
    loops = [r for r in read_metrics(cfg) if r.get("block") == block]
    start = cfg.block_steps[block - 2] if block > 1 else 0
    wall = sum(r["step_time_ms"] * r["steps"] for r in loops) / 1000.0
    first = loops[0]["time_utc"] if loops else utc_now()
    write_block_record(cfg, block, start, end, loops, first, wall, _NoBackend(), recovered=True)
