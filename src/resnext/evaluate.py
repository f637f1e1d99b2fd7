"""One checkpoint -> eval/step-<step>.json: top-1, top-5 and loss over every validation image once.

The validation set is read in order, the last batch padded and masked, so num_images equals the
number of validation records (the seed dropped the remainder). Python 3.7, TF 1.15 API.
"""
import datetime
import logging
import os
import time

from resnext import atomic, checkpoints
from resnext import progress as progress_mod
from resnext.compat import tf
from resnext.data import pipeline
from resnext.model import build_logits
from resnext.train import preflight
from resnext.train.events import ScalarWriter, eval_values
from resnext.train.records import eval_path, utc_now

log = logging.getLogger(__name__)


def _metric_sums(logits, labels, mask):
    """Per-batch sums: (correct top-1, correct top-5, cross-entropy, images), masked."""
    k = min(5, int(logits.shape[-1]))
    top1 = tf.cast(tf.nn.in_top_k(logits, labels, 1), tf.float32)
    top5 = tf.cast(tf.nn.in_top_k(logits, labels, k), tf.float32)
    xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return [tf.reduce_sum(top1 * mask), tf.reduce_sum(top5 * mask), tf.reduce_sum(xent * mask),
            tf.reduce_sum(mask)]


def _session_config(cfg):
    """NPU: the NpuOptimizer inference config (else the graph would run on the host CPU); others: default."""
    if cfg.backend != "npu":
        return None
    from resnext.backends.npu import inference_config
    return inference_config(cfg)


def _run_eval(cfg, prefix, num_images):
    """Metric sums over the validation set and the seconds it took; shows progress in images."""
    graph = tf.Graph()
    with graph.as_default():
        images, labels, mask = tf.data.make_one_shot_iterator(pipeline.eval_dataset(cfg)).get_next()
        logits = build_logits(images, cfg.arch, cfg.num_classes, is_training=False,
                              bn_epsilon=cfg.bn_epsilon, grouped_conv=cfg.grouped_conv)
        sums_op = _metric_sums(logits, labels, mask)
        saver = tf.train.Saver()
    totals = [0.0, 0.0, 0.0, 0.0]
    with tf.Session(graph=graph, config=_session_config(cfg)) as sess:
        saver.restore(sess, prefix)
        t0 = time.time()
        with pipeline.naming_damaged_files(pipeline.rank_files(cfg, "validation")), \
                progress_mod.Progress("evaluate", total=num_images, unit="images") as progress:
            while True:
                try:
                    sums = sess.run(sums_op)
                except tf.errors.OutOfRangeError:
                    break
                totals = [a + float(b) for a, b in zip(totals, sums)]
                progress.update(int(sums[3]))  # masked count: padding is not an image
    return totals, time.time() - t0


def _checkpoint_time(prefix):
    mtime = os.path.getmtime(prefix + ".index")
    return datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def evaluate(cfg, prefix, out_path=None):
    """Evaluate checkpoint `prefix` ('.../model.ckpt-<step>'); write and return the result dict."""
    checkpoints.require(prefix)
    # without a manifest the shards may be a killed conversion's: too few images
    manifest = preflight.check_data(cfg)
    step = checkpoints.step_of(prefix)
    out_path = out_path or eval_path(cfg, step)
    expected = manifest.get("splits", {}).get("validation", {}).get("num_images")
    (top1, top5, xent, n), seconds = _run_eval(cfg, prefix, expected)
    if n == 0:
        raise ValueError("validation set in %s is empty" % cfg.data_dir)
    result = {"step": step, "epoch": round(cfg.epoch_at(step), 4), "top1": top1 / n, "top5": top5 / n,
              "loss": xent / n, "num_images": int(n), "images_per_sec": n / seconds if seconds else None,
              "checkpoint": {"path": prefix, "sha256": checkpoints.sha256(prefix),
                             "time_utc": _checkpoint_time(prefix)},
              "config_sha256": cfg.sha256(), "arch": cfg.arch, "evaluated_utc": utc_now()}
    atomic.write_json(out_path, result)
    # TensorBoard: one event file per checkpoint (the suffix keeps parallel evaluations apart)
    events = ScalarWriter(os.path.join(cfg.run_dir, "eval"), filename_suffix=".step-%d" % step)
    events.write(step, eval_values(result), prefix="eval/")
    events.close()
    log.info("step %d: top1 %.4f top5 %.4f loss %.4f over %d images -> %s",
             step, result["top1"], result["top5"], result["loss"], n, out_path)
    return result
