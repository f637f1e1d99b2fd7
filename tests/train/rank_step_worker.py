"""Test worker: one train step of resnext_tiny_nobn on fixed images, this rank's slice of them.

usage: rank_step_worker.py OUT_DIR GLOBAL_BATCH
       (env RANK_ID/RANK_SIZE/RESNEXT_CLUSTER from the launcher)
Writes OUT_DIR/rank-<r>.npz with every trainable variable after the step.
"""

import os
import sys

import numpy as np

from resnext.backends import get_backend
from resnext.compat import tf
from resnext.config import load_config
from resnext.train.step import build_train_graph


def main(out_dir, global_batch):
    rank, size = int(os.environ["RANK_ID"]), int(os.environ["RANK_SIZE"])
    cfg = load_config(
        [],
        [
            "arch=resnext_tiny_nobn",
            "image_size=32",
            "num_classes=10",
            "rank_size=%d" % size,
            "batch_size=%d" % (global_batch // size),
            "num_train_images=1000",
            "warmup_epochs=0",
            "threads_per_rank=1",
        ],
    )
    rng = np.random.RandomState(0)
    images = rng.randn(global_batch, 32, 32, 3).astype(np.float32)
    labels = rng.randint(0, 10, global_batch).astype(np.int32)
    mine = slice(rank * cfg.batch_size, (rank + 1) * cfg.batch_size)
    backend = get_backend(cfg, rank, size)
    graph = tf.Graph()
    with graph.as_default(), backend.device_scope():
        tf.set_random_seed(rank + 7)  # different init per rank: the broadcast must make them equal
        ops = build_train_graph(cfg, tf.constant(images[mine]), tf.constant(labels[mine]), backend)
        init = tf.global_variables_initializer()
        broadcast = backend.broadcast_variables_op()
    with tf.Session(backend.session_target(), graph=graph, config=backend.session_config()) as sess:
        sess.run(init)
        if broadcast is not None:
            sess.run(broadcast)
        before = {v.op.name: sess.run(v) for v in tf.trainable_variables()} if rank == 0 else {}
        sess.run(ops.train_op)
        after = {
            v.op.name: sess.run(v) for v in graph.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES)
        }
    np.savez(os.path.join(out_dir, "rank-%d.npz" % rank), **after)
    if before:
        np.savez(os.path.join(out_dir, "init.npz"), **before)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
