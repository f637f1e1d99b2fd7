"""Checkpoint -> frozen GraphDef with `input` [N,H,W,3] float32 (normalised) -> `logits`,
`probabilities`, and export.json with the max |difference| between the frozen graph and the
checkpoint on real validation images. Progress (resnext.progress): a bar on a terminal, else one
log line per stage. Python 3.7, TF 1.15 API.
"""

import hashlib
import logging

import numpy as np

from resnext import atomic, checkpoints, paths, restore
from resnext import progress as progress_mod
from resnext.compat import tf
from resnext.data import pipeline
from resnext.model import config_logits

log = logging.getLogger(__name__)

OUTPUTS = ["logits", "probabilities"]
STAGES = 7  # what export's progress counts: each done() call below


def _quiet(note):
    pass


def _inference_graph(cfg):
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, [None, cfg.image_size, cfg.image_size, 3], name="input")
        logits = config_logits(cfg, images, is_training=False)
        tf.nn.softmax(logits, name="probabilities")
    return graph


def _validation_images(cfg, limit):
    """Up to `limit` real validation images, float32 [n,H,W,3], as the evaluation sees them."""
    graph = tf.Graph()
    with graph.as_default():
        batch = tf.data.make_one_shot_iterator(pipeline.eval_dataset(cfg)).get_next()
    chunks, count = [], 0
    files = pipeline.rank_files(cfg, "validation")
    with tf.Session(graph=graph) as sess, pipeline.naming_damaged_files(
        files, cfg.max_image_pixels
    ):
        while count < limit:
            try:
                images, _, mask = sess.run(batch)
            except tf.errors.OutOfRangeError:
                break
            real = images[mask > 0]
            chunks.append(real)
            count += len(real)
    return np.concatenate(chunks)[:limit]


def freeze(cfg, prefix, done=_quiet):
    """-> (frozen GraphDef, {output: values on `images`} from the checkpoint session, images).

    done(note) is called after each of its four stages (export's progress).
    """
    graph = _inference_graph(cfg)
    images = _validation_images(cfg, cfg.eval_batch_size)
    done("read %d validation images" % len(images))
    with tf.Session(graph=graph) as sess:
        restore.restore(sess, tf.train.Saver(), prefix, cfg, restore.INFERENCE_TODO)
        done("restored %s" % prefix)
        frozen = tf.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), OUTPUTS)
        done("froze the variables into constants")
        reference = dict(zip(OUTPUTS, sess.run([o + ":0" for o in OUTPUTS], {"input:0": images})))
        done("ran the checkpoint on the images")
    return frozen, reference, images


def run_frozen(graph_def, images):
    """Run a frozen GraphDef on images float32 [n,H,W,3] -> {output: values}."""
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    with tf.Session(graph=graph) as sess:
        values = sess.run([o + ":0" for o in OUTPUTS], {"input:0": images})
    return dict(zip(OUTPUTS, values))


def export(cfg, prefix, out_dir=None):
    """Write export/<arch>.pb and export.json; return the record."""
    checkpoints.require(prefix)
    out_dir = out_dir or paths.export_dir(cfg.run_dir)
    with progress_mod.Progress("export", total=STAGES, unit="stages", rate=False) as progress:

        def done(note):
            progress.update(1, note=note)

        frozen, reference, images = freeze(cfg, prefix, done)
        data = frozen.SerializeToString()
        pb_path = paths.export_graph(out_dir, cfg.arch)
        atomic.write_bytes(pb_path, data)
        done("wrote %s" % pb_path)
        check = run_frozen(frozen, images)
        done("ran the frozen graph on the images")
        record = _record(cfg, prefix, pb_path, data, images, reference, check)
        atomic.write_json(paths.export_record(out_dir), record)
        done("wrote export.json")
    log.info(
        "exported %s (%d bytes); max |logits diff| %.3g on %d validation images",
        pb_path,
        len(data),
        record["max_abs_diff_logits"],
        len(images),
    )
    return record


def _record(cfg, prefix, pb_path, data, images, reference, check):
    """export.json: what was exported from what, and how far the frozen graph is
    from the checkpoint."""
    record = {
        "arch": cfg.arch,
        "graph": pb_path,
        "graph_sha256": hashlib.sha256(data).hexdigest(),
        "checkpoint": {"path": prefix, "sha256": checkpoints.sha256(prefix)},
        "input": {
            "name": "input",
            "shape": [None, cfg.image_size, cfg.image_size, 3],
            "dtype": "float32",
        },
        "outputs": OUTPUTS,
        "num_images_checked": int(len(images)),
        "config_sha256": cfg.sha256(),
        "settings_sha256": cfg.sha256("export"),
    }
    for name in OUTPUTS:
        record["max_abs_diff_%s" % name] = float(np.max(np.abs(check[name] - reference[name])))
    return record
