"""Fake results trees (results/<run>/...) in the documented JSON formats, for the report tests.

Two recipes: "demo" (the digits demo: not comparable with the reference) and "reference"
(the seed's 8-device ImageNet recipe, finished, so the verdict can PASS or FAIL).
All wall-clock fields derive from `base` + offsets, so a tree can be rewritten with only its
timestamps shifted.
"""

import datetime as dt
import hashlib
import json
import os

from resnext import atomic
from resnext.config import load_config, write_resolved

# every file the report stage writes into <run>/report
REPORT_FILES = (
    "report.html",
    "report.md",
    "eval_table.txt",
    "audit.json",
    "mllog.txt",
    "accuracy.png",
    "loss.png",
    "lr.png",
    "throughput.png",
)
# the software versions every fake block and benchmark record claims (copied per record)
VERSIONS = {
    "python": "3.11.9",
    "tensorflow": "2.21.0",
    "resnext": "0.1.0",
    "numpy": "2.1.0",
    "driver": None,
}
BASE = dt.datetime(2026, 11, 29, 7, 0, 0, tzinfo=dt.timezone.utc)

DEMO = {
    "run_name": "demo",
    "num_train_images": 1437,
    "arch": "resnext50_32x4d",
    "image_size": 32,
    "num_classes": 10,
    "batch_size": 32,
    "num_epochs": 10,
    "iterations_per_loop": 11,
    "checkpoint_every_epochs": 2.5,
    "learning_rate_end": 0.0001,
    "warmup_epochs": 1,
    "backend": "cpu",
    "rank_size": 1,
    "precision_mode": "fp32",
    "seed": 7,
}
REFERENCE = {
    "run_name": "imagenet8p",
    "arch": "resnext50_32x4d",
    "image_size": 224,
    "num_classes": 1001,
    "label_offset": 1,
    "num_train_images": 1281167,
    "batch_size": 32,
    "rank_size": 8,
    "num_epochs": 120,
    "iterations_per_loop": 1000,
    "checkpoint_every_epochs": 60,
    "backend": "npu",
    "precision_mode": "allow_mix_precision",
    "loss_scale": 1024,
    "lr_schedule_variant": "seed",
    "seed": 1,
}
SKIPPED = {"path": "source/val/3/broken.jpg", "reason": "not a decodable JPEG (truncated file)"}


def iso(base, seconds):
    return (base + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _manifest(train, val, num_classes, label_offset):
    def split(prefix, total, shards):
        per = [total // shards + (1 if i < total % shards else 0) for i in range(shards)]
        return {
            "num_images": total,
            "shards": [
                {
                    "name": "%s-%05d-of-%05d" % (prefix, i, shards),
                    "num_records": n,
                    "sha256": hashlib.sha256(("%s%d" % (prefix, i)).encode()).hexdigest(),
                }
                for i, n in enumerate(per)
            ],
        }

    return {
        "splits": {"train": split("train", train, 4), "validation": split("validation", val, 2)},
        "label_map": {"n%08d" % i: i + label_offset for i in range(num_classes - label_offset)},
        "label_offset": label_offset,
        "skipped": [SKIPPED],
        "source": "demo digits (scikit-learn)",
        "seed": 7,
    }


def _block(cfg, b, start, end, t_start, loops, base):
    wall = round((end - start) * cfg.global_batch / (0.98 * sum(loops[1:]) / len(loops[1:])), 1)
    return {
        "block": b,
        "start_step": start,
        "end_step": end,
        "steps": end - start,
        "images": (end - start) * cfg.global_batch,
        "wall_time_s": wall,
        "images_per_sec": (end - start) * cfg.global_batch / wall,
        "images_per_sec_loops": loops,
        "warmup_loops_excluded": 1,
        "step_time_ms_mean": 1000.0 * wall / (end - start),
        "rank_size": cfg.rank_size,
        "backend": cfg.backend,
        "precision_mode": cfg.precision_mode,
        "started_utc": iso(base, t_start),
        "finished_utc": iso(base, t_start + wall),
        "checkpoint": "%s/train/ckpt/model.ckpt-%d" % (cfg.run_dir, end),
        "config_sha256": cfg.sha256(),
        "hostnames": ["node-a"],
        "seed": cfg.seed,
        "versions": dict(VERSIONS),
        "final_loss": 1.25 - 0.1 * b,
    }


def _eval(cfg, step, top1, top5, loss, t_ckpt, base, num_images):
    return {
        "step": step,
        "epoch": round(cfg.epoch_at(step), 4),
        "top1": top1,
        "top5": top5,
        "loss": loss,
        "num_images": num_images,
        "images_per_sec": 512.5,
        "checkpoint": {
            "path": "%s/train/ckpt/model.ckpt-%d" % (cfg.run_dir, step),
            "sha256": hashlib.sha256(b"ckpt%d" % step).hexdigest(),
            "time_utc": iso(base, t_ckpt),
        },
        "config_sha256": cfg.sha256(),
        "arch": cfg.arch,
        "evaluated_utc": iso(base, t_ckpt + 600),
    }


def _metrics(cfg, blocks, base):
    lines = []
    for blk in blocks:
        loop = cfg.iterations_per_loop
        for i, step in enumerate(range(blk["start_step"] + loop, blk["end_step"] + 1, loop)):
            rec = {
                "step": step,
                "epoch": cfg.epoch_at(step),
                "images_per_sec": 300.0 + i,
                "loss": 2.0 / (1 + step / 100.0),
                "total_loss": 2.5 / (1 + step / 100.0),
                "lr": 0.1 * (1 - step / float(cfg.train_steps)),
                "step_time_ms": 100.0,
                "time_utc": iso(base, step),
                "block": blk["block"],
            }
            lines.append(json.dumps(rec, sort_keys=True))
    return "\n".join(lines) + "\n"


def write_tree(
    root, recipe="demo", base=BASE, top1=(0.61611, 0.97), top5=(0.8463, 0.998), overrides=None
):
    """Write a 2-block, 2-eval results tree under root/results; returns the Config."""
    values = dict(
        DEMO if recipe == "demo" else REFERENCE, results_dir=os.path.join(str(root), "results")
    )
    values.update(overrides or {})
    return write_results(load_config([], values=values), recipe, base, top1, top5)


def write_results(cfg, recipe="demo", base=BASE, top1=(0.61611, 0.97), top5=(0.8463, 0.998)):
    """The results tree of `cfg` (under cfg.run_dir and cfg.data_dir); returns cfg."""
    run = cfg.run_dir
    write_resolved(cfg, os.path.join(run, "config.resolved.yaml"))
    ends = cfg.block_steps[:2] if recipe == "demo" else cfg.block_steps
    per_device = 740.0 if recipe == "reference" else 40.0
    loops = [per_device * cfg.rank_size * f for f in (0.5, 0.99, 1.0, 1.01)]
    blocks = [_block(cfg, 1, 0, ends[0], 0, loops, base)]
    blocks.append(_block(cfg, 2, ends[0], ends[1], blocks[0]["wall_time_s"] + 100, loops, base))
    for blk in blocks:
        atomic.write_json(os.path.join(run, "train", "block-%d.json" % blk["block"]), blk)
    atomic.write_text(os.path.join(run, "train", "metrics.jsonl"), _metrics(cfg, blocks, base))
    num_val = 287 if recipe == "demo" else 50000
    for i in (1, 0):  # highest step first: the report must sort
        t_ckpt = blocks[i]["wall_time_s"] + (blocks[0]["wall_time_s"] + 100 if i else 0)
        rec = _eval(cfg, ends[i], top1[i], top5[i], 2.55 - i, t_ckpt, base, num_val)
        atomic.write_json(os.path.join(run, "eval", "step-%d.json" % ends[i]), rec)
    atomic.write_json(
        os.path.join(cfg.data_dir, "manifest.json"),
        _manifest(cfg.num_train_images, num_val, cfg.num_classes, cfg.label_offset),
    )
    atomic.write_json(os.path.join(run, "export", "export.json"), _export(cfg, ends[1]))
    write_benchmark(cfg, base, per_device * 1.02)
    return cfg


def write_benchmark(cfg, base=BASE, per_device=40.0, **changes):
    """benchmark/<mode>-<data>-<ranks>x<batch>.json as resnext.benchmark.run() writes it;
    returns the record."""
    images = cfg.batch_size * cfg.rank_size
    step_s = images / (per_device * cfg.rank_size)
    rec = {
        "steps": 20,
        "images_per_step": images,
        "images_per_sec_mean": per_device * cfg.rank_size,
        "images_per_sec_total": 0.99 * per_device * cfg.rank_size,
        "images_per_sec_mad": 0.01 * per_device,
        "step_time_ms_p50": 1000 * step_s,
        "step_time_ms_p90": 1050 * step_s,
        "step_time_ms_p99": 1100 * step_s,
        "step_time_ms_mean": 1010 * step_s,
        "mode": "train",
        "data": "synthetic",
        "arch": cfg.arch,
        "image_size": cfg.image_size,
        "batch_size_per_rank": cfg.batch_size,
        "rank_size": cfg.rank_size,
        "backend": cfg.backend,
        "precision_mode": cfg.precision_mode,
        "warmup_steps": 5,
        "config_sha256": cfg.sha256(),
        "time_utc": iso(base, 7200),
        "versions": dict(VERSIONS),
    }
    rec.update(changes)
    name = "%s-%s-%dx%d.json" % (
        rec["mode"],
        rec["data"],
        rec["rank_size"],
        rec["batch_size_per_rank"],
    )
    atomic.write_json(os.path.join(cfg.run_dir, "benchmark", name), rec)
    return rec


def _export(cfg, step):
    return {
        "arch": cfg.arch,
        "graph": "%s/export/%s.pb" % (cfg.run_dir, cfg.arch),
        "graph_sha256": hashlib.sha256(b"graph").hexdigest(),
        "checkpoint": {
            "path": "%s/train/ckpt/model.ckpt-%d" % (cfg.run_dir, step),
            "sha256": hashlib.sha256(b"ckpt%d" % step).hexdigest(),
        },
        "input": {
            "name": "input",
            "shape": [None, cfg.image_size, cfg.image_size, 3],
            "dtype": "float32",
        },
        "outputs": ["logits", "probabilities"],
        "max_abs_diff_logits": 3.1e-6,
        "max_abs_diff_probabilities": 2.0e-7,
        "num_images_checked": 16,
        "config_sha256": cfg.sha256(),
    }
