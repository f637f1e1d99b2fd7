"""The train step's parts: loss, weight decay, loss scaling (static and dynamic)."""

import numpy as np
import pytest

from resnext.backends import get_backend
from resnext.compat import tf
from resnext.config import load_config
from resnext.train.step import (
    _dynamic_apply,
    _dynamic_scale_vars,
    build_train_graph,
    weight_decay_loss,
)

BASE = [
    "arch=resnext_tiny",
    "image_size=32",
    "num_classes=10",
    "batch_size=4",
    "num_train_images=100",
    "warmup_epochs=0",
    "threads_per_rank=1",
]


def _one_step(overrides, steps=1):
    cfg = load_config([], BASE + overrides)
    rng = np.random.RandomState(0)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)
        images = tf.constant(rng.randn(4, 32, 32, 3).astype(np.float32))
        labels = tf.constant(rng.randint(0, 10, 4).astype(np.int32))
        ops = build_train_graph(cfg, images, labels, get_backend(cfg))
        init = tf.group(tf.global_variables_initializer(), tf.local_variables_initializer())
        with tf.Session() as sess:
            sess.run(init)
            before = {v.op.name: sess.run(v) for v in tf.trainable_variables()}
            for _ in range(steps):
                sess.run(ops.train_op)
            after = {v.op.name: sess.run(v) for v in tf.trainable_variables()}
            extra = sess.run(
                [ops.global_step, ops.loss_scale]
                + ([ops.skipped] if ops.skipped is not None else [])
            )
    return before, after, extra


def _changed(before, after):
    return [n for n in before if not np.array_equal(before[n], after[n])]


def test_weight_decay_skips_batch_norm():
    with tf.Graph().as_default():
        a = tf.get_variable("conv/weights", initializer=tf.constant([3.0, 4.0]))
        tf.get_variable("bn/BatchNorm/gamma", initializer=tf.constant([10.0]))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            assert sess.run(weight_decay_loss(0.1)) == pytest.approx(0.1 * 0.5 * 25.0)
            assert a.dtype.base_dtype == tf.float32


def test_static_loss_scale_gives_the_unscaled_update():
    _, plain, _ = _one_step(["loss_scale=1"])
    _, scaled, (_, scale) = _one_step(["loss_scale=1024"])
    assert scale == 1024
    for name in plain:
        np.testing.assert_allclose(plain[name], scaled[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_dynamic_overflow_skips_the_step_and_reduces_the_scale():
    """An inf in the (averaged) gradients: weights untouched, scale halved, step counted,
    lr clock on."""
    cfg = load_config([], BASE + ["loss_scale=dynamic", "dynamic_loss_scale_init=1024"])
    with tf.Graph().as_default():
        step_var = tf.train.get_or_create_global_step()
        w = tf.get_variable("w", initializer=tf.constant([1.0, 2.0]))
        poisoned = tf.constant([np.inf, 0.5])
        scale, good, skipped = _dynamic_scale_vars(cfg)
        opt = tf.train.MomentumOptimizer(0.1, 0.9)
        train_op = _dynamic_apply(cfg, opt, [(poisoned, w)], step_var, scale, good, skipped)
        with tf.Session() as sess:
            sess.run([tf.global_variables_initializer(), tf.local_variables_initializer()])
            sess.run(train_op)
            assert list(sess.run(w)) == [1.0, 2.0]
            assert sess.run([scale, skipped, step_var]) == [512.0, 1, 1]


def test_dynamic_scale_grows_after_a_run_of_finite_steps():
    before, after, (step, scale, skipped) = _one_step(
        ["loss_scale=dynamic", "dynamic_loss_scale_init=8", "dynamic_loss_scale_period=2"], steps=2
    )
    assert skipped == 0 and scale == 16 and step == 2 and _changed(before, after)
