"""One checkpoint -> eval/step-<step>.json: top-1, top-5 and loss over every validation image once,
and eval/step-<step>.predictions.npz: per image its top-5 classes and label probability
(predictions.py).

The validation set is read in order, the last batch padded and masked, so num_images equals the
number of validation records (the seed dropped the remainder). Python 3.7, TF 1.15 API.
"""

import datetime
import hashlib
import logging
import os
import time

from resnext import atomic, checkpoints, intervals, paths, predictions, restore
from resnext import progress as progress_mod
from resnext.compat import tf
from resnext.data import identity, pipeline
from resnext.model import config_logits
from resnext.train import preflight
from resnext.train.events import ScalarWriter, eval_values
from resnext.train.records import utc_now

log = logging.getLogger(__name__)


def _top_k(logits):
    return min(5, int(logits.shape[-1]))


def _per_image(logits, labels):
    """Per-row ops of a batch [B]: top-k class ids int32 [B, k], label probability float32 [B],
    top-1 / top-k hits bool [B] (in_top_k: the hits the sums count)."""
    k = _top_k(logits)
    logits = tf.cast(logits, tf.float32)
    probabilities = tf.nn.softmax(logits)
    return {
        "label": labels,
        "top5": tf.nn.top_k(logits, k).indices,
        "label_probability": tf.reduce_sum(
            probabilities * tf.one_hot(labels, int(logits.shape[-1])), 1
        ),
        "top1_correct": tf.nn.in_top_k(logits, labels, 1),
        "top5_correct": tf.nn.in_top_k(logits, labels, k),
    }


def _metric_sums(rows, logits, labels, mask):
    """Per-batch sums: (correct top-1, correct top-5, cross-entropy, images), masked."""
    top1 = tf.cast(rows["top1_correct"], tf.float32)
    top5 = tf.cast(rows["top5_correct"], tf.float32)
    xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return [
        tf.reduce_sum(top1 * mask),
        tf.reduce_sum(top5 * mask),
        tf.reduce_sum(xent * mask),
        tf.reduce_sum(mask),
    ]


def _session_config(cfg):
    """NPU: the NpuOptimizer inference config (else the graph would run on the host CPU);
    others: default."""
    if cfg.backend != "npu":
        return None
    from resnext.backends.npu import inference_config

    return inference_config(cfg)


def _run_eval(cfg, prefix, num_images):
    """Metric sums over the validation set, the seconds it took and the per-image predictions
    (predictions.Collector); shows progress in images."""
    graph = tf.Graph()
    with graph.as_default():
        batch = tf.data.make_one_shot_iterator(
            pipeline.eval_dataset(cfg, with_names=True)
        ).get_next()
        images, labels, mask, names, sources = batch
        logits = config_logits(cfg, images, is_training=False)
        rows_op = _per_image(logits, labels)
        sums_op = _metric_sums(rows_op, logits, labels, mask)
        saver = tf.train.Saver()
    totals = [0.0, 0.0, 0.0, 0.0]
    collector = predictions.Collector()
    with tf.Session(graph=graph, config=_session_config(cfg)) as sess:
        restore.restore(sess, saver, prefix, cfg, restore.INFERENCE_TODO)
        t0 = time.time()
        with pipeline.naming_damaged_files(
            pipeline.rank_files(cfg, "validation"), cfg.max_image_pixels
        ), progress_mod.Progress("evaluate", total=num_images, unit="images") as progress:
            while True:
                try:
                    sums, rows, real, batch_names, batch_sources = sess.run(
                        [sums_op, rows_op, mask, names, sources]
                    )
                except tf.errors.OutOfRangeError:
                    break
                totals = [a + float(b) for a, b in zip(totals, sums)]
                collector.add(rows, real, batch_names, batch_sources)
                progress.update(int(sums[3]))  # masked count: padding is not an image
    return totals, time.time() - t0, collector.arrays(_top_k(logits))


def _checkpoint_time(prefix):
    mtime = os.path.getmtime(paths.index_of(prefix))
    return datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def _write_predictions(out_path, rows):
    """Write the predictions file beside `out_path` (paths.eval_predictions); -> its entry in the
    eval JSON. The entry holds no path: where the file is follows from where the JSON is, so a
    result written elsewhere or a moved copy of the run carries the same entry."""
    data = predictions.write(paths.eval_predictions(out_path), rows)
    return {"sha256": hashlib.sha256(data).hexdigest(), "num_images": int(len(rows["label"]))}


def evaluate(cfg, prefix, out_path=None):
    """Evaluate checkpoint `prefix` ('.../model.ckpt-<step>'); write and return the result dict."""
    checkpoints.require(prefix)
    # without a manifest the shards may be a killed conversion's: too few images
    manifest = preflight.check_data(cfg)
    # the manifest names the dataset in the report: prove these are its validation shards
    verified = identity.verify(cfg, manifest, "validation", full=True)
    step = checkpoints.step_of(prefix)
    out_path = out_path or paths.eval_json(cfg.run_dir, step)
    expected = manifest.get("splits", {}).get("validation", {}).get("num_images")
    (top1, top5, xent, n), seconds, rows = _run_eval(cfg, prefix, expected)
    if n == 0:
        raise ValueError("validation set in %s is empty" % cfg.data_dir)
    result = {
        "step": step,
        "epoch": round(cfg.epoch_at(step), 4),
        "top1": top1 / n,
        "top5": top5 / n,
        "top1_ci95": intervals.wilson(int(round(top1)), int(n)),
        "top5_ci95": intervals.wilson(int(round(top5)), int(n)),
        "loss": xent / n,
        "num_images": int(n),
        "images_per_sec": n / seconds if seconds else None,
        "checkpoint": {
            "path": prefix,
            "sha256": checkpoints.sha256(prefix),
            "time_utc": _checkpoint_time(prefix),
        },
        "predictions": _write_predictions(out_path, rows),
        "data_verified": verified,
        "config_sha256": cfg.sha256(),
        "settings_sha256": cfg.sha256("evaluation"),
        "arch": cfg.arch,
        "evaluated_utc": utc_now(),
    }
    atomic.write_json(out_path, result)  # last: the JSON names the predictions file it vouches for
    # TensorBoard: one event file per checkpoint (the suffix keeps parallel evaluations apart)
    events = ScalarWriter(paths.eval_dir(cfg.run_dir), filename_suffix=".step-%d" % step)
    events.write(step, eval_values(result), prefix="eval/")
    events.close()
    log.info(
        "step %d: top1 %.4f top5 %.4f loss %.4f over %d images -> %s",
        step,
        result["top1"],
        result["top5"],
        result["loss"],
        n,
        out_path,
    )
    return result
