"""Throughput and latency of the training step (or inference) through the training code path.

Synthetic mode feeds one fixed random batch that lives on the device (no input pipeline); real mode
reads the TFRecords through resnext.data.pipeline. The graph is the one training builds
(build_train_graph, same backend, same ranks), so the figure is the one training would see.
Warm-up steps are excluded. Rank 0 writes one JSON. Python 3.7, TF 1.15 API.
"""

import logging
import time

import numpy as np

from resnext import atomic
from resnext.compat import tf
from resnext.data import pipeline
from resnext.model import config_logits
from resnext.train.records import utc_now, versions
from resnext.train.step import build_train_graph

log = logging.getLogger(__name__)


def _synthetic_batch(cfg, batch):
    """A fixed random batch held in variables, so no feed or pipeline cost enters the step."""
    rng = np.random.RandomState(cfg.seed)
    images = tf.get_variable(
        "bench_images",
        initializer=rng.randn(batch, cfg.image_size, cfg.image_size, 3).astype(np.float32),
        trainable=False,
        collections=[tf.GraphKeys.LOCAL_VARIABLES],
    )
    labels = tf.get_variable(
        "bench_labels",
        initializer=rng.randint(cfg.label_offset, cfg.num_classes, batch).astype(np.int32),
        trainable=False,
        collections=[tf.GraphKeys.LOCAL_VARIABLES],
    )
    return tf.identity(images), tf.identity(labels)


def _inputs(cfg, backend, data, batch):
    if data == "synthetic":
        return _synthetic_batch(cfg, batch), None
    if batch != cfg.batch_size:
        cfg = cfg.replace(batch_size=batch)
    iterator = tf.data.make_initializable_iterator(
        pipeline.train_dataset(cfg, backend.rank, backend.rank_size)
    )
    return iterator.get_next(), iterator.initializer


def build(cfg, backend, mode, data):
    """-> (op to time, images per run on this rank, initializers)."""
    batch = cfg.batch_size
    (images, labels), iter_init = _inputs(cfg, backend, data, batch)
    if mode == "train":
        op = build_train_graph(cfg, images, labels, backend).train_op
    else:
        logits = config_logits(cfg, images, False, backend.compute_dtype(cfg))
        op = tf.reduce_sum(logits).op
    init = [tf.global_variables_initializer(), tf.local_variables_initializer()]
    return op, batch, init + ([iter_init] if iter_init is not None else [])


def time_steps(sess, op, warmup, steps):
    """Run `op` warmup+steps times; -> list of seconds of the timed steps,
    and their total wall time."""
    for _ in range(warmup):
        sess.run(op)
    times = []
    t_start = time.time()
    for _ in range(steps):
        t0 = time.time()
        sess.run(op)
        times.append(time.time() - t0)
    return times, time.time() - t_start


def summarize(times, wall_s, images_per_step):
    """Step times (s) -> images/sec (mean over steps and total/elapsed), MAD jitter, percentiles."""
    t = np.asarray(times, dtype=np.float64)
    rates = images_per_step / t
    return {
        "steps": int(len(t)),
        "images_per_step": int(images_per_step),
        "images_per_sec_mean": float(np.mean(rates)),
        "images_per_sec_total": float(images_per_step * len(t) / wall_s),
        "images_per_sec_mad": float(np.median(np.abs(rates - np.median(rates)))),
        "step_time_ms_p50": float(np.percentile(t, 50) * 1000),
        "step_time_ms_p90": float(np.percentile(t, 90) * 1000),
        "step_time_ms_p99": float(np.percentile(t, 99) * 1000),
        "step_time_ms_mean": float(np.mean(t) * 1000),
    }


def run(cfg, backend, mode="train", data="synthetic", warmup=5, steps=20, out_path=None):
    """Benchmark on this rank; rank 0 returns (and writes) the result dict, others None."""
    graph = tf.Graph()
    with graph.as_default(), backend.device_scope():
        tf.set_random_seed(cfg.seed)
        op, batch, init = build(cfg, backend, mode, data)
        broadcast = backend.broadcast_variables_op() if mode == "train" else None
    with tf.Session(backend.session_target(), graph=graph, config=backend.session_config()) as sess:
        sess.run(init)
        if broadcast is not None:
            sess.run(broadcast)
        with graph.as_default(), backend.device_scope():  # npu_bridge builds in the default graph
            op, per_run = backend.loop_op(sess, op) if mode == "train" else (op, 1)
        times, wall = time_steps(sess, op, warmup, steps)
    if not backend.is_chief:
        return None
    result = summarize(times, wall, batch * backend.rank_size * per_run)
    result.update(
        {
            "mode": mode,
            "data": data,
            "arch": cfg.arch,
            "image_size": cfg.image_size,
            "batch_size_per_rank": batch,
            "rank_size": backend.rank_size,
            "backend": cfg.backend,
            "precision_mode": cfg.precision_mode,
            "warmup_steps": warmup,
            "config_sha256": cfg.sha256(),
            "time_utc": utc_now(),
            "versions": versions(),
        }
    )
    log.info(
        "%s %s: %.1f images/s (mean over steps), %.1f total/elapsed, p50 %.1f ms",
        mode,
        data,
        result["images_per_sec_mean"],
        result["images_per_sec_total"],
        result["step_time_ms_p50"],
    )
    if out_path:
        atomic.write_json(out_path, result)
    return result
