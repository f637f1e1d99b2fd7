"""Items 3 and 5 of `resnext npu-check`: a 1-device training run of the tiny model and the
evaluation and export of its checkpoint, all through the stages' own code (train.loop,
evaluate, export) on backend npu, in this process.

Item 3 trains block 1 (LOOP steps: one session run of the device loop), checks the checkpoint's
global_step and the loss, then opens a session resuming from that checkpoint: every variable must
equal the saved value, and one more session run must advance global_step by exactly LOOP.
Python 3.7, TF 1.15 API (it runs in the Ascend container).
"""

import logging
import math
import os

import numpy as np

from resnext import checkpoints, paths
from resnext.compat import tf
from resnext.npucheck.outcome import Failed
from resnext.npucheck.tiny import LOOP, VAL_PER_CLASS, CLASSES

log = logging.getLogger(__name__)
EXPORT_TOLERANCE = 1e-2  # max |logits| difference of the frozen graph vs the checkpoint


def one_device_env(cfg, device):
    """This process as the single rank of a 1-device job on `device`: the env a launched rank
    gets (RANK_ID 0, RANK_SIZE 1, the device, JOB_ID), and no rank table, so HCCL stays off."""
    from resnext.train.rankenv import npu_env

    os.environ.update(npu_env(cfg)(0))
    os.environ.update(
        {
            "RANK_ID": "0",
            "RANK_SIZE": "1",
            "DEVICE_ID": str(device),
            "ASCEND_DEVICE_ID": str(device),
        }
    )
    os.environ.pop("RANK_TABLE_FILE", None)


def _checkpoint_step(prefix):
    return int(tf.train.NewCheckpointReader(prefix).get_tensor("global_step"))


def _restored_mismatches(run, prefix):
    """Names of the checkpoint's variables whose value in `run` differs from the saved one."""
    reader = tf.train.NewCheckpointReader(prefix)
    with run.graph.as_default():
        variables = [v for v in tf.global_variables() if reader.has_tensor(v.op.name)]
    values = run.sess.run(variables)
    wrong = [
        v.op.name
        for v, value in zip(variables, values)
        if not np.array_equal(value, reader.get_tensor(v.op.name))
    ]
    return wrong, len(variables)


def _first_block(cfg, backend):
    from resnext.train import loop, records

    loop.train_block(cfg, LOOP, backend)
    prefix = paths.ckpt_prefix(cfg.train_dir, LOOP)
    checkpoints.require(prefix)
    saved = _checkpoint_step(prefix)
    metrics = [(r["step"], r["steps"], r["loss"]) for r in records.read_metrics(cfg)]
    if saved != LOOP or [m[:2] for m in metrics] != [(LOOP, LOOP)]:
        raise Failed(
            "asked for %d steps (one device loop): the checkpoint holds global_step %d, "
            "the metrics record (step, steps) %s" % (LOOP, saved, [m[:2] for m in metrics])
        )
    if not all(math.isfinite(m[2]) for m in metrics):
        raise Failed("loss is not finite after %d steps: %s" % (LOOP, [m[2] for m in metrics]))
    return prefix, metrics[0][2]


def one_device_item(cfg, device):
    """Item 3 -> detail. cfg: the tiny 1-device config (its shards indexed); device: its id."""
    from resnext.backends import get_backend
    from resnext.train import loop

    one_device_env(cfg, device)
    backend = get_backend(cfg, 0, 1)
    prefix, loss = _first_block(cfg, backend)
    with loop._session(cfg, backend, LOOP) as run:
        wrong, total = _restored_mismatches(run, prefix)
        if wrong or not total:
            raise Failed(
                "restored %d variables from %s; %d differ from the saved values: %s"
                % (total, prefix, len(wrong), ", ".join(wrong[:5]))
            )
        if run.steps_per_run != LOOP:
            raise Failed(
                "the session runs %d step(s) per run, not iterations_per_loop %d"
                % (run.steps_per_run, LOOP)
            )
        resumed_loss, _, _, step = run.run_steps(LOOP)
    if step != 2 * LOOP or not math.isfinite(resumed_loss):
        raise Failed(
            "one session run after the restore: global_step %d -> %d (expected %d), "
            "loss %s" % (LOOP, step, 2 * LOOP, resumed_loss)
        )
    return (
        "global_step 0 -> %d -> %d in one session run each; loss %.3f, %.3f; %d variables "
        "restored equal to %s" % (LOOP, step, loss, resumed_loss, total, os.path.basename(prefix))
    )


def eval_export_item(cfg, prefix):
    """Item 5 -> detail: `resnext evaluate` and `resnext export` of item 3's checkpoint, into
    its run's eval/ and export/ folders as the stages write them."""
    from resnext.evaluate import evaluate
    from resnext.export import export

    result = evaluate(cfg, prefix)
    images = CLASSES * VAL_PER_CLASS
    if (
        result["num_images"] != images
        or not math.isfinite(result["loss"])
        or not 0.0 <= result["top1"] <= 1.0
    ):
        raise Failed(
            "evaluation: %s images (expected %d), top-1 %s, loss %s"
            % (result["num_images"], images, result["top1"], result["loss"])
        )
    record = export(cfg, prefix)
    diff = record["max_abs_diff_logits"]
    if not diff <= EXPORT_TOLERANCE:
        raise Failed(
            "the frozen graph's logits differ from the checkpoint's by %s (> %g)"
            % (diff, EXPORT_TOLERANCE)
        )
    return "evaluated %d images (top-1 %.3f, loss %.3f); exported %s, max |logits diff| %.2g" % (
        result["num_images"],
        result["top1"],
        result["loss"],
        os.path.basename(record["graph"]),
        diff,
    )
