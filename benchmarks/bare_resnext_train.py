#!/usr/bin/env python3
"""Bare-graph baseline of `resnext benchmark --mode train`: images/s of one ResNeXt-50 32x4d step.

Independent of the package (it does not import resnext): the same math written directly with
tf.nn ops in graph mode - NHWC, 7x7/2 stem with explicit padding, 3-4-6-3 bottlenecks whose 3x3 conv
is grouped (cardinality 32, native grouped kernels) and strided, fused batch norm in training mode
with moving-average updates, zero-gamma last BN per block, global mean, dense; label-smoothed
softmax cross-entropy, L2 weight decay on non-BN variables, warm-up + cosine lr from the global
step, Nesterov momentum - on one fixed random batch held in variables (no input pipeline). Session
threads as the CPU backend sets them. fp32, one process.

usage: benchmarks/bare_resnext_train.py [--image-size 224] [--batch 16] [--classes 1001]
                                        [--steps 10] [--warmup 3] [--intra-threads N]
Prints images/sec (mean over timed steps, and total images / elapsed) and a JSON line.
"""

import argparse
import json
import math
import multiprocessing
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault(
    "TF_ENABLE_ONEDNN_OPTS", "1"
)  # the kernels resnext uses; without them no grouped-conv gradient
import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

tf.disable_eager_execution()

DEPTHS, CARDINALITY, BASE_WIDTH, STEM = (3, 4, 6, 3), 32, 4, 64
BN_DECAY, BN_EPS, LABEL_SMOOTHING, WEIGHT_DECAY, MOMENTUM = 0.9, 1e-4, 0.1, 1e-4, 0.9
LR_MAX, LR_END, WARMUP_STEPS, TOTAL_STEPS = 0.1, 1e-4, 100, 10000
BN_UPDATES = []


def conv(x, out_ch, k, stride, name, groups=1):
    w = tf.get_variable(
        name + "/w",
        [k, k, int(x.shape[-1]) // groups, out_ch],
        tf.float32,
        tf.variance_scaling_initializer(),
    )
    if stride > 1 and k > 1:
        x = tf.pad(x, [[0, 0], [k // 2, k // 2], [k // 2, k // 2], [0, 0]])
        return tf.nn.conv2d(x, w, [1, stride, stride, 1], "VALID")
    return tf.nn.conv2d(x, w, [1, stride, stride, 1], "SAME")


def bn(x, name, zero_gamma=False):
    ch = int(x.shape[-1])
    gamma = tf.get_variable(
        name + "/bn_gamma",
        [ch],
        tf.float32,
        tf.zeros_initializer() if zero_gamma else tf.ones_initializer(),
    )
    beta = tf.get_variable(name + "/bn_beta", [ch], tf.float32, tf.zeros_initializer())
    mean = tf.get_variable(
        name + "/bn_mean", [ch], tf.float32, tf.zeros_initializer(), trainable=False
    )
    var = tf.get_variable(
        name + "/bn_var", [ch], tf.float32, tf.ones_initializer(), trainable=False
    )
    y, batch_mean, batch_var = tf.nn.fused_batch_norm(x, gamma, beta, epsilon=BN_EPS)
    BN_UPDATES.append(tf.assign_sub(mean, (1.0 - BN_DECAY) * (mean - batch_mean)))
    BN_UPDATES.append(tf.assign_sub(var, (1.0 - BN_DECAY) * (var - batch_var)))
    return y


def block(x, out_ch, width, stride, project, name):
    shortcut = bn(conv(x, out_ch, 1, stride, name + "/proj"), name + "/proj") if project else x
    y = tf.nn.relu(bn(conv(x, width, 1, 1, name + "/c1"), name + "/b1"))
    y = tf.nn.relu(bn(conv(y, width, 3, stride, name + "/c2", groups=CARDINALITY), name + "/b2"))
    y = bn(conv(y, out_ch, 1, 1, name + "/c3"), name + "/b3", zero_gamma=True)
    return tf.nn.relu(y + shortcut)


def logits_of(images, classes):
    x = tf.nn.relu(bn(conv(images, STEM, 7, 2, "stem"), "stem"))
    x = tf.nn.max_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], "SAME")
    for i, depth in enumerate(DEPTHS):
        for j in range(depth):
            x = block(
                x,
                STEM * 4 * 2**i,
                CARDINALITY * BASE_WIDTH * 2**i,
                2 if j == 0 and i > 0 else 1,
                j == 0,
                "s%d/b%d" % (i + 1, j + 1),
            )
    x = tf.reduce_mean(x, [1, 2])
    kernel = tf.get_variable(
        "fc/w", [int(x.shape[-1]), classes], tf.float32, tf.random_normal_initializer(0, 0.01)
    )
    bias = tf.get_variable("fc/b", [classes], tf.float32, tf.zeros_initializer())
    return tf.matmul(x, kernel) + bias


def learning_rate(step):
    i = tf.cast(step, tf.float32)
    warm = LR_MAX * (i + 1.0) / WARMUP_STEPS
    phase = (i - WARMUP_STEPS) / (TOTAL_STEPS - WARMUP_STEPS)
    decay = LR_END + (LR_MAX - LR_END) * tf.square(tf.cos(0.5 * math.pi * phase))
    return tf.where(i < WARMUP_STEPS, warm, decay)


def train_op(images, labels, classes):
    step = tf.train.get_or_create_global_step()
    logits = logits_of(images, classes)
    smooth = tf.one_hot(labels, classes) * (1.0 - LABEL_SMOOTHING) + LABEL_SMOOTHING / classes
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=smooth, logits=logits))
    decayed = [v for v in tf.trainable_variables() if "/bn_" not in v.op.name]
    total = loss + WEIGHT_DECAY * tf.add_n([tf.nn.l2_loss(v) for v in decayed])
    params = tf.trainable_variables()
    grads = tf.gradients(total, params)
    opt = tf.train.MomentumOptimizer(learning_rate(step), MOMENTUM, use_nesterov=True)
    with tf.control_dependencies(BN_UPDATES):
        return opt.apply_gradients(list(zip(grads, params)), global_step=step)


def build(args):
    rng = np.random.RandomState(0)
    local = [tf.GraphKeys.LOCAL_VARIABLES]
    images = tf.get_variable(
        "bench_images",
        initializer=rng.randn(args.batch, args.image_size, args.image_size, 3).astype(np.float32),
        trainable=False,
        collections=local,
    )
    labels = tf.get_variable(
        "bench_labels",
        initializer=rng.randint(1, args.classes, args.batch).astype(np.int32),
        trainable=False,
        collections=local,
    )
    op = train_op(tf.identity(images), tf.identity(labels), args.classes)
    return op, [tf.global_variables_initializer(), tf.local_variables_initializer()]


def session_config(args):
    config = tf.ConfigProto(allow_soft_placement=True)
    config.intra_op_parallelism_threads = args.intra_threads or multiprocessing.cpu_count()
    config.inter_op_parallelism_threads = args.inter_threads
    return config


def measure(args):
    """-> (per-step seconds of the timed steps, their total wall time)."""
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)
        op, init = build(args)
    with tf.Session(graph=graph, config=session_config(args)) as sess:
        sess.run(init)
        for _ in range(args.warmup):
            sess.run(op)
        times, start = [], time.time()
        for _ in range(args.steps):
            t0 = time.time()
            sess.run(op)
            times.append(time.time() - t0)
    return times, time.time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--classes", type=int, default=1001)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--intra-threads", type=int, default=0, help="0 = all cores (the CPU backend's default)"
    )
    parser.add_argument("--inter-threads", type=int, default=2)
    args = parser.parse_args()
    times, wall = measure(args)
    rates = args.batch / np.asarray(times)
    result = {
        "images_per_sec_mean": float(rates.mean()),
        "images_per_sec_total": args.batch * len(times) / wall,
        "step_time_ms_p50": float(np.percentile(times, 50) * 1000),
        "steps": args.steps,
        "warmup_steps": args.warmup,
        "batch": args.batch,
        "image_size": args.image_size,
        "tensorflow": tf.__version__,
    }
    print(
        "bare ResNeXt-50 32x4d train step, %dx%d, batch %d, fp32: %.2f images/sec (mean over %d "
        "steps), %.2f images/sec (total/elapsed)"
        % (
            args.image_size,
            args.image_size,
            args.batch,
            result["images_per_sec_mean"],
            args.steps,
            result["images_per_sec_total"],
        )
    )
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
