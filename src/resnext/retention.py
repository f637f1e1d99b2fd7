"""Checkpoint retention: keep the newest `keep_checkpoint_max` checkpoints (0 = keep all), but
never delete the newest one, nor one whose evaluation result (eval/step-<step>.json, of this very
checkpoint) is not on disk yet.

A checkpoint is removed index first: the moment its `.index` is gone it no longer counts as present
(resnext.checkpoints), so no reader ever sees an index whose data files are half deleted. Leftovers
of saves that were killed (data files without an index, TensorFlow's `*.tempstate<N>` files) are
removed too, but only for steps not newer than the newest complete checkpoint, so a save in flight
is never touched.

Called by rank 0 after it saved a block's checkpoint (train/loop.py); also `prune(cfg)` by hand.
Runs in the Ascend container: Python 3.7 syntax, no TensorFlow.
"""

import glob
import logging
import os
import re

from resnext import atomic, checkpoints, paths

log = logging.getLogger(__name__)

_FILE_STEP = re.compile(r"^%s-(\d+)\." % re.escape(paths.CKPT_PREFIX))
TEMP_MARKERS = (".tempstate", ".tmp")


def has_eval_result(cfg, step):
    """True when eval/step-<step>.json exists, parses, is for `step` and for the checkpoint now on
    disk (same sha256): a result of an earlier checkpoint at the same step does not count."""
    path = paths.eval_json(cfg.run_dir, step)
    try:
        record = atomic.read_json(path)
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("step") != step:
        return False
    digest = (record.get("checkpoint") or {}).get("sha256")
    prefix = paths.ckpt_prefix(cfg.train_dir, step)
    return digest is not None and digest == checkpoints.sha256(prefix)


def _is_temp(path):
    return any(marker in os.path.basename(path) for marker in TEMP_MARKERS)


def _remove(path):
    try:
        os.remove(path)
    except OSError as exc:
        if os.path.exists(path):
            raise OSError(exc.errno, "cannot delete checkpoint file %s: %s" % (path, exc.strerror))


def delete_checkpoint(prefix):
    """Delete checkpoint `prefix`: its .index first (it stops counting as present),
    then the rest."""
    files = checkpoints.files_of(prefix)  # index first
    for path in files:
        _remove(path)
    return files


def leftovers(train_dir):
    """Files of killed saves that can never become part of a checkpoint: for steps up to the newest
    complete checkpoint, temp files, and data files of a step that has no .index."""
    steps = checkpoints.complete_steps(train_dir)
    if not steps:
        return []
    newest, complete = steps[-1], set(steps)
    found = []
    for path in glob.glob(os.path.join(paths.ckpt_dir(train_dir), paths.CKPT_PREFIX + "-*")):
        match = _FILE_STEP.match(os.path.basename(path))
        if not match or int(match.group(1)) > newest:
            continue
        if _is_temp(path) or int(match.group(1)) not in complete:
            found.append(path)
    return sorted(found)


def plan(cfg):
    """-> (steps to delete, {step: reason kept}) under cfg.keep_checkpoint_max; deletes nothing."""
    steps = checkpoints.complete_steps(cfg.train_dir)
    keep_max = int(cfg.keep_checkpoint_max or 0)
    kept = {}
    if not steps:
        return [], kept
    kept[steps[-1]] = "newest"
    if keep_max <= 0:
        for step in steps[:-1]:
            kept[step] = "keep_checkpoint_max is 0 (keep all)"
        return [], kept
    recent = steps[-keep_max:]
    for step in recent[:-1]:
        kept[step] = "among the newest %d" % keep_max
    delete = []
    for step in steps[:-keep_max]:
        if has_eval_result(cfg, step):
            delete.append(step)
        else:
            kept[step] = "no evaluation result yet (%s)" % paths.eval_json(cfg.run_dir, step)
    return delete, kept


def prune(cfg):
    """Apply keep_checkpoint_max to cfg.train_dir/ckpt; -> the steps deleted (ascending).

    Never deletes the newest checkpoint nor one without an evaluation result of it; also removes
    leftovers of killed saves (see `leftovers`). Safe to call at any time from one process.
    """
    delete, kept = plan(cfg)  # first: the hashes compare the files as the evaluation saw them
    for step in delete:
        delete_checkpoint(paths.ckpt_prefix(cfg.train_dir, step))
        log.info(
            "retention: deleted checkpoint %d (evaluated; keep_checkpoint_max %d)",
            step,
            cfg.keep_checkpoint_max,
        )
    for path in leftovers(cfg.train_dir):
        _remove(path)
        log.info("removed %s (left by an interrupted checkpoint save)", path)
    for step, reason in sorted(kept.items()):
        if reason.startswith("no evaluation"):
            log.info("retention: keeping checkpoint %d: %s", step, reason)
    return delete
