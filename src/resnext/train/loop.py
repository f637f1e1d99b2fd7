"""One rank's training block: resume from the newest complete checkpoint, train to a step, save.

Rank 0 alone writes checkpoints, metrics.jsonl and block-<b>.json, and applies checkpoint retention
after the save; every rank logs. Training runs under TF op determinism (cfg.deterministic_ops), so
the same seed gives the same weights on CPU. The console line every iterations_per_loop steps keeps
the seed's format. Python 3.7, TF 1.15 API.
"""

import contextlib
import logging
import math
import os
import time

from resnext import atomic, checkpoints, compat, paths, restore, retention
from resnext.compat import tf
from resnext.config import ConfigError
from resnext.data import pipeline
from resnext.train import records
from resnext.train.events import ScalarWriter, train_values
from resnext.train.step import build_train_graph

log = logging.getLogger(__name__)

LOG_FORMAT = "step: %6i  epoch: %5.1f  FPS: %7.1f  loss: %6.3f  total_loss: %6.3f  lr:%7.7f"


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the last good checkpoint is kept."""


class CheckpointSaveFailed(OSError):
    """Saver.save failed (disk full, ...); the message names the previous checkpoint,
    still intact."""


def block_index(cfg, until_step):
    if until_step not in cfg.block_steps:
        raise ConfigError(
            "--until-step %d is not a block boundary; boundaries: %s"
            % (until_step, cfg.block_steps)
        )
    return cfg.block_steps.index(until_step) + 1


class _Session:
    """Graph, session and saver for one rank, restored to the newest complete checkpoint."""

    def __init__(self, cfg, backend, start_step, graph=None):
        # graph: given when op determinism had to be switched on inside it first (_session)
        self.graph = graph if graph is not None else tf.Graph()
        with self.graph.as_default(), backend.device_scope():
            tf.set_random_seed(cfg.seed)
            dataset = pipeline.train_dataset(
                cfg, backend.rank, backend.rank_size, seed_offset=start_step
            )
            # initializable, not one-shot: the NPU's on-device loop refuses one-shot iterators
            iterator = tf.data.make_initializable_iterator(dataset)
            images, labels = iterator.get_next()
            self.ops = build_train_graph(cfg, images, labels, backend)
            self.saver = tf.train.Saver(max_to_keep=None, save_relative_paths=True)
            self.broadcast = backend.broadcast_variables_op()
            init = tf.group(tf.global_variables_initializer(), tf.local_variables_initializer())
            self.restore_init = init_from_checkpoint_fn(cfg) if start_step == 0 else None
        self.sess = tf.Session(
            backend.session_target(), graph=self.graph, config=backend.session_config()
        )
        self.sess.run(init)
        if start_step > 0:
            restore.restore(
                self.sess,
                self.saver,
                paths.ckpt_prefix(cfg.train_dir, start_step),
                cfg,
                restore.RESUME_TODO,
            )
        elif self.restore_init is not None:
            self.restore_init(self.sess)
        if self.broadcast is not None:
            self.sess.run(self.broadcast)
        self.sess.run(iterator.initializer)
        # one sess.run may run several steps (the NPU's iterations_per_loop); CPU/GPU: one. In the
        # graph: npu_bridge builds its loop counters in the default graph and loads them via sess
        with self.graph.as_default(), backend.device_scope():
            self.step_op, self.steps_per_run = backend.loop_op(self.sess, self.ops.train_op)

    def loss_scale(self):
        """The loss scale in force (static value; dynamic scaling reads its variable)."""
        return float(self.sess.run(self.ops.loss_scale))

    def overflow_steps(self):
        """Steps skipped so far for inf/nan gradients (dynamic loss scaling), this session."""
        return int(self.sess.run(self.ops.skipped)) if self.ops.skipped is not None else 0

    def run_steps(self, n):
        """Run n train steps (a multiple of steps_per_run); -> (loss, total_loss, lr, global_step)
        fetched with the last run."""
        if n % self.steps_per_run:
            raise ValueError(
                "%d steps is not a multiple of the %d steps one session run takes"
                % (n, self.steps_per_run)
            )
        fetches = [self.step_op, self.ops.loss, self.ops.total_loss, self.ops.learning_rate]
        for _ in range(n // self.steps_per_run - 1):
            self.sess.run(self.step_op)
        _, loss, total, lr = self.sess.run(fetches)
        # read after the run: fetched beside the train op it could be the value before the increment
        step = self.sess.run(self.ops.global_step)
        return float(loss), float(total), float(lr), int(step)


@contextlib.contextmanager
def _session(cfg, backend, start_step):
    """A _Session, under TF op determinism when cfg.deterministic_ops; closed afterwards, and op
    determinism (process-wide) off again if it was off before."""
    graph = tf.Graph()
    owned = False
    if cfg.deterministic_ops:
        with graph.as_default():
            owned = compat.enable_determinism(cfg.seed)
    try:
        run = _Session(cfg, backend, start_step, graph)
        try:
            yield run
        finally:
            run.sess.close()
    finally:
        if owned:
            compat.disable_determinism()


def init_from_checkpoint_fn(cfg):
    """Fine-tuning initialiser (restore_path minus restore_exclude), or None."""
    if not cfg.restore_path:
        return None
    from resnext.train.finetune import restore_fn

    return restore_fn(cfg)


def _check_finite(cfg, loss, total, lr, step):
    if not (math.isfinite(loss) and math.isfinite(total)):
        raise TrainingDiverged(
            "loss is %s (total %s) at step %d, lr %.6g: not a loss-scale overflow; "
            "the last good checkpoint is kept in %s"
            % (loss, total, step, lr, paths.ckpt_dir(cfg.train_dir))
        )


def _loop(cfg, run, backend, start, until, block):
    """Train from `start` to `until` in loops of iterations_per_loop; -> per-loop records."""
    loops, step, overflows = [], start, 0
    events = ScalarWriter(cfg.train_dir) if backend.is_chief else None
    while step < until:
        n = min(cfg.iterations_per_loop, until - step)
        t0 = time.time()
        loss, total, lr, step = run.run_steps(n)
        dt = time.time() - t0
        _check_finite(cfg, loss, total, lr, step)
        skipped = run.overflow_steps()
        if skipped > overflows:
            log.warning(
                "steps %d..%d: %d step(s) skipped for inf/nan gradients; loss scale now %g",
                step - n + 1,
                step,
                skipped - overflows,
                run.loss_scale(),
            )
        overflows = skipped
        rec = {
            "step": step,
            "epoch": round(cfg.epoch_at(step), 4),
            "images_per_sec": n * cfg.global_batch / dt,
            "loss": loss,
            "total_loss": total,
            "lr": lr,
            "step_time_ms": 1000.0 * dt / n,
            "block": block,
            "steps": n,
            "time_utc": records.utc_now(),
            "loss_scale": run.loss_scale(),
            "overflow_steps": skipped,
        }
        loops.append(rec)
        if backend.is_chief:
            log.info(LOG_FORMAT, step, rec["epoch"], rec["images_per_sec"], loss, total, lr)
            atomic.append_line(paths.metrics(cfg.train_dir), atomic.json_text(rec))
            events.write(step, train_values(rec), prefix="train/")
    if events is not None:
        events.close()
    return loops


def train_block(cfg, until_step, backend):
    """Train this rank to `until_step` (a block boundary); rank 0 saves and writes block-<b>.json.

    `resnext train-rank` checked the data once for this rank (preflight.check_train_data)."""
    block = block_index(cfg, until_step)
    start = checkpoints.latest_step(cfg.train_dir) or 0
    if start >= until_step:
        log.info(
            "checkpoint at step %d already covers block %d (until %d)", start, block, until_step
        )
        if backend.is_chief:
            records.ensure_block_record(cfg, block, until_step)
        return None
    if backend.is_chief:
        records.truncate_metrics(cfg, start)
    started = records.utc_now()
    t0 = time.time()
    with _session(cfg, backend, start) as run:
        log.info(
            "rank %d/%d: training block %d, steps %d -> %d",
            backend.rank,
            backend.rank_size,
            block,
            start,
            until_step,
        )
        files = pipeline.rank_files(cfg, "train", backend.rank, backend.rank_size)
        with pipeline.naming_damaged_files(files, cfg.max_image_pixels):
            loops = _loop(cfg, run, backend, start, until_step, block)
        if not backend.is_chief:
            return None
        save_checkpoint(cfg, run, start, until_step)
    record = records.write_block_record(
        cfg, block, start, until_step, loops, started, time.time() - t0, backend
    )
    apply_retention(cfg)
    return record


def save_checkpoint(cfg, run, start, step):
    """Rank 0 saves the block's checkpoint; a failed save raises CheckpointSaveFailed saying what
    is intact and what to do, not TensorFlow's graph-execution report."""
    prefix = paths.ckpt_prefix(cfg.train_dir, step)
    try:
        run.saver.save(run.sess, prefix, write_meta_graph=False)
    except (tf.errors.OpError, OSError) as exc:
        raise CheckpointSaveFailed(save_failure_message(cfg, prefix, start, exc)) from exc
    log.info("saved %s", prefix)
    return prefix


def save_failure_message(cfg, prefix, start, exc):
    """What failed (TensorFlow's first line only), that the previous checkpoint is intact,
    what to do."""
    cause = restore.tf_cause(getattr(exc, "message", None) or str(exc))
    folder = paths.ckpt_dir(cfg.train_dir)
    if start:
        intact = "the previous checkpoint, step %d, is intact (%s)" % (
            start,
            paths.ckpt_prefix(cfg.train_dir, start),
        )
    else:
        intact = "there is no earlier checkpoint: the block starts again from step 0"
    todo = (
        "Free space in %s" % folder
        if "No space left" in cause
        else "Fix that (%s must be writable)" % folder
    )
    return (
        "could not write checkpoint %s: %s. Nothing of it counts (no %s.index was written); %s. "
        "%s, then run this block again." % (prefix, cause, os.path.basename(prefix), intact, todo)
    )


def apply_retention(cfg):
    """keep_checkpoint_max after a saved block (resnext.retention). An error is only logged: failing
    the job would make Snakemake delete the block's new checkpoint."""
    try:
        deleted = retention.prune(cfg)
    except Exception as exc:  # noqa: BLE001 - any failure here must not fail the saved block
        log.warning(
            "checkpoint retention failed (the new checkpoint is saved; nothing else changed): %s. "
            "Run `resnext prune --config ...` once it is fixed",
            exc,
        )
        return None
    return deleted
