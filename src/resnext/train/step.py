"""The train step: loss, weight decay, loss scaling, gradient averaging, momentum update.

Runs in the Ascend container: Python 3.7, TF 1.15 API.
"""

import collections

from resnext.compat import tf
from resnext.model import config_logits, is_batch_norm_variable
from resnext.train.schedule import learning_rate

TrainGraph = collections.namedtuple(
    "TrainGraph",
    [
        "train_op",
        "loss",
        "total_loss",
        "learning_rate",
        "global_step",
        "logits",
        "loss_scale",
        "skipped",
    ],
)

DYNAMIC_GROWTH = 2.0
DYNAMIC_SHRINK = 0.5


def cross_entropy(logits, labels, num_classes, label_smoothing):
    """logits float32 [N,C], labels int32 [N] -> mean smoothed softmax cross-entropy (scalar)."""
    onehot = tf.one_hot(labels, num_classes, dtype=tf.float32)
    return tf.losses.softmax_cross_entropy(
        onehot,
        logits,
        label_smoothing=label_smoothing,
        reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
    )


def weight_decay_loss(weight_decay):
    """weight_decay * sum of l2_loss over trainable variables except batch-norm ones
    (the seed's rule)."""
    decayed = [v for v in tf.trainable_variables() if not is_batch_norm_variable(v)]
    if not decayed or weight_decay == 0:
        return tf.constant(0.0)
    return weight_decay * tf.add_n([tf.nn.l2_loss(v) for v in decayed])


def scaled_gradients(total_loss, scale):
    """Gradients of total_loss*scale, divided back by scale (float or float32 tensor)."""
    params = tf.trainable_variables()
    if (
        isinstance(scale, (int, float)) and scale == 1
    ):  # fp32: no pass over 25M gradient values per step
        return [(g, v) for g, v in zip(tf.gradients(total_loss, params), params) if g is not None]
    grads = tf.gradients(total_loss * scale, params)
    return [(g / scale, v) for g, v in zip(grads, params) if g is not None]


def make_optimizer(cfg, lr):
    return tf.train.MomentumOptimizer(lr, cfg.momentum, use_nesterov=cfg.nesterov)


def _dynamic_scale_vars(cfg):
    scale = tf.get_variable(
        "loss_scale",
        [],
        tf.float32,
        tf.constant_initializer(cfg.dynamic_loss_scale_init),
        trainable=False,
    )
    good = tf.get_variable(
        "loss_scale_good_steps", [], tf.int64, tf.zeros_initializer(), trainable=False
    )
    skipped = tf.get_variable(
        "overflow_steps",
        [],
        tf.int64,
        tf.zeros_initializer(),
        trainable=False,
        collections=[tf.GraphKeys.LOCAL_VARIABLES],
    )
    return scale, good, skipped


def _dynamic_apply(cfg, optimizer, grads_and_vars, global_step, scale, good, skipped):
    """Apply only when every (already averaged) gradient is finite; otherwise skip, shrink the scale
    and count the step. Ranks agree because they test the same all-reduced gradients."""
    finite = tf.reduce_all([tf.reduce_all(tf.is_finite(g)) for g, _ in grads_and_vars])

    def apply():
        grow = good + 1 >= cfg.dynamic_loss_scale_period
        with tf.control_dependencies([optimizer.apply_gradients(grads_and_vars)]):
            return tf.group(
                tf.assign(scale, tf.where(grow, scale * DYNAMIC_GROWTH, scale)),
                tf.assign(good, tf.where(grow, tf.zeros_like(good), good + 1)),
            )

    def skip():
        return tf.group(
            tf.assign(scale, tf.maximum(scale * DYNAMIC_SHRINK, 1.0)),
            tf.assign(good, tf.zeros_like(good)),
            tf.assign_add(skipped, 1),
        )

    with tf.control_dependencies([tf.cond(finite, apply, skip)]):
        # the step advances either way, so block boundaries and the lr schedule stay fixed
        return tf.assign_add(global_step, 1).op


def build_train_graph(cfg, images, labels, backend):
    """images float32 [B,H,W,3], labels int32 [B] -> TrainGraph
    (train op advances global_step by 1).

    `backend` averages gradients across ranks and may wrap the optimizer (resnext.backends).
    """
    global_step = tf.train.get_or_create_global_step()
    logits = config_logits(cfg, images, True, backend.compute_dtype(cfg))
    loss = tf.identity(
        cross_entropy(logits, labels, cfg.num_classes, cfg.label_smoothing), name="loss"
    )
    total_loss = tf.identity(loss + weight_decay_loss(cfg.weight_decay), name="total_loss")
    lr = learning_rate(cfg, global_step)
    optimizer = backend.wrap_optimizer(make_optimizer(cfg, lr))
    dynamic = cfg.loss_scale == "dynamic"
    scale, good, skipped = (
        _dynamic_scale_vars(cfg) if dynamic else (float(cfg.loss_scale), None, None)
    )
    grads_and_vars = backend.average_gradients(scaled_gradients(total_loss, scale))
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        if dynamic:
            train_op = _dynamic_apply(
                cfg, optimizer, grads_and_vars, global_step, scale, good, skipped
            )
        else:
            train_op = optimizer.apply_gradients(grads_and_vars, global_step=global_step)
    # what is logged: the mean over ranks
    mean_loss, mean_total = backend.average_scalars([loss, total_loss])
    return TrainGraph(
        train_op,
        mean_loss,
        mean_total,
        lr,
        global_step,
        logits,
        tf.convert_to_tensor(scale),
        skipped,
    )
