"""Training blocks end to end on the tiny variant: resume, records, failures."""

import json
import logging
import os

import numpy as np
import pytest

from resnext import checkpoints, paths
from resnext.backends import get_backend
from resnext.compat import tf
from resnext.config import ConfigError
from resnext.train import loop, preflight, records


def _train(cfg, until):
    return loop.train_block(cfg, until, get_backend(cfg, 0, 1))


def test_blocks_resume_and_write_records(tiny_cfg, caplog):
    cfg = tiny_cfg()
    assert cfg.block_steps == [4, 8]
    with caplog.at_level(logging.INFO):
        first = _train(cfg, 4)
        second = _train(cfg, 8)
    assert checkpoints.complete_steps(cfg.train_dir) == [4, 8]
    assert (first["start_step"], first["end_step"], second["start_step"], second["end_step"]) == (
        0,
        4,
        4,
        8,
    )
    on_disk = json.load(open(paths.block_record(cfg.train_dir, 2)))
    assert on_disk["config_sha256"] == cfg.sha256() and on_disk["images"] == 4 * cfg.global_batch
    steps = [r["step"] for r in records.read_metrics(cfg)]
    assert steps == [2, 4, 6, 8]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step:")]
    assert (
        len(lines) == 4 and "FPS:" in lines[0] and "total_loss:" in lines[0] and "lr:" in lines[0]
    )
    # a rerun of a finished block is a no-op that keeps its record
    assert _train(cfg, 8) is None and checkpoints.complete_steps(cfg.train_dir) == [4, 8]


def test_blocks_follow_the_single_run_schedule(tiny_cfg):
    blocked, whole = tiny_cfg(), tiny_cfg(run_name="whole", checkpoint_every_steps=8)
    for until in blocked.block_steps:
        _train(blocked, until)
    _train(whole, 8)
    lr = lambda cfg: [(r["step"], r["lr"]) for r in records.read_metrics(cfg)]  # noqa: E731
    assert lr(blocked) == lr(whole)


def test_missing_block_record_is_rebuilt_from_metrics(tiny_cfg):
    cfg = tiny_cfg()
    _train(cfg, 4)
    os.remove(paths.block_record(cfg.train_dir, 1))  # killed between the checkpoint and the record
    assert _train(cfg, 4) is None
    rebuilt = json.load(open(paths.block_record(cfg.train_dir, 1)))
    assert rebuilt["recovered"] is True and rebuilt["end_step"] == 4


def test_manifest_mismatch_and_bad_boundary_fail_before_training(tiny_cfg):
    # the data check runs once per rank, in `resnext train-rank` before the loop (not in the loop)
    with pytest.raises(ConfigError, match="num_train_images"):
        preflight.check_train_data(tiny_cfg(num_train_images=999))
    with pytest.raises(ConfigError, match="block boundary"):
        _train(tiny_cfg(), 5)


def test_divergence_stops_and_keeps_the_last_checkpoint(tiny_cfg):
    cfg = tiny_cfg()
    _train(cfg, 4)
    before = checkpoints.sha256(paths.ckpt_prefix(cfg.train_dir, 4))
    wild = cfg.replace(learning_rate_maximum=1e12, weight_decay=0.0)
    with pytest.raises(loop.TrainingDiverged, match="last good checkpoint"):
        _train(wild, 8)
    assert checkpoints.complete_steps(cfg.train_dir) == [4]
    assert checkpoints.sha256(paths.ckpt_prefix(cfg.train_dir, 4)) == before


def test_metrics_past_the_checkpoint_are_dropped_on_rerun(tiny_cfg):
    cfg = tiny_cfg()
    _train(cfg, 4)
    records.read_metrics(cfg)
    with open(paths.metrics(cfg.train_dir), "a") as f:  # a block killed after logging step 6
        f.write(json.dumps({"step": 6, "lr": 1.0}) + "\n{\"torn")
    _train(cfg, 8)
    assert [r["step"] for r in records.read_metrics(cfg)] == [2, 4, 6, 8]
    assert all(r["lr"] != 1.0 for r in records.read_metrics(cfg))


def test_events_hold_the_train_tags(tiny_cfg):
    cfg = tiny_cfg()
    _train(cfg, 4)
    tags = set()
    for name in os.listdir(cfg.train_dir):
        if name.startswith("events.out.tfevents"):
            for event in tf.train.summary_iterator(os.path.join(cfg.train_dir, name)):
                tags.update(v.tag for v in event.summary.value)
    assert {
        "train/loss",
        "train/total_loss",
        "train/lr",
        "train/images_per_sec",
        "train/loss_scale",
    } <= tags
    assert np.isfinite(records.read_metrics(cfg)[-1]["loss"])
