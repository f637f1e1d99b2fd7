"""Learning-rate schedules as a function of the global step only, built in the graph.

Because the lr depends only on the global step and the configured totals, training in blocks
(resume from a checkpoint) gives exactly the schedule of one uninterrupted run, and on the NPU the
schedule is evaluated on the device inside the iterations_per_loop loop.

Notation (global step i, the step about to be taken): W = warmup steps, T = schedule_steps,
base = learning_rate_maximum, end = learning_rate_end.
- variant "seed" (the original code): warm-up base*0.5*(1+cos(pi+pi*(i+1)/W)); cosine decay
  base*((1-end)*0.5*(1+cos(pi*(i-W+1)/(T-W))) + end), i.e. `end` is a *fraction* of base;
  after T: end*0.01.
- variant "corrected" (what the seed's documentation describes): linear warm-up base*(i+1)/W;
  cosine decay end + (base-end)*0.5*(1+cos(pi*(i-W)/(T-W))), `end` absolute; after T: end.
- modes "steps" (base * lr_decay_factor ** boundaries passed), "linear" (linear decay to end),
  "constant" share the variant's warm-up and its meaning of `end`.
Runs in the Ascend container: Python 3.7, TF 1.15 API.
"""

import math

from resnext.compat import tf


def warmup_steps(cfg):
    return int(round(cfg.warmup_epochs * cfg.steps_per_epoch))


def _end_lr(cfg):
    base, end = cfg.learning_rate_maximum, cfg.learning_rate_end
    return base * end if cfg.lr_schedule_variant == "seed" else end


def _warmup(cfg, i, w):
    base = cfg.learning_rate_maximum
    if cfg.lr_schedule_variant == "seed":
        # 0.5*(1+cos(pi+x)) == sin(x/2)**2, written so float32 keeps the tiny first values
        return base * tf.square(tf.sin(0.5 * math.pi * (i + 1.0) / w))
    return base * (i + 1.0) / w


def _decay(cfg, i, w, t):
    """Main phase for W <= i <= T."""
    base, end = cfg.learning_rate_maximum, _end_lr(cfg)
    span = float(max(t - w, 1))
    mode = cfg.lr_decay_mode
    if mode == "cosine":
        shift = 1.0 if cfg.lr_schedule_variant == "seed" else 0.0
        # 0.5*(1+cos(x)) == cos(x/2)**2, accurate in float32 near the end of the decay
        return end + (base - end) * tf.square(tf.cos(0.5 * math.pi * (i - w + shift) / span))
    if mode == "linear":
        return end + (base - end) * (t - i) / span
    if mode == "steps":
        bounds = [float(round(e * cfg.steps_per_epoch)) for e in cfg.lr_decay_epochs]
        passed = tf.add_n([tf.cast(i >= b, tf.float32) for b in bounds]) if bounds else 0.0 * i
        return base * tf.pow(cfg.lr_decay_factor, passed)
    return base * tf.ones_like(i)


def _after_end(cfg):
    if cfg.lr_schedule_variant == "seed" and cfg.lr_decay_mode == "cosine":
        return cfg.learning_rate_end * 0.01
    if cfg.lr_decay_mode in ("cosine", "linear"):
        return _end_lr(cfg)
    return None  # steps/constant continue their own rule past T


def learning_rate(cfg, global_step):
    """global_step int64 tensor (scalar, or [N] steps) -> lr float32 of the same shape,
    named 'learning_rate'."""
    i = tf.cast(global_step, tf.float32)
    w, t = warmup_steps(cfg), cfg.schedule_steps
    lr = tf.cast(_decay(cfg, i, w, t), tf.float32)
    after = _after_end(cfg)
    if after is not None:
        lr = tf.where(i > t, after * tf.ones_like(lr), lr)
    if w > 0:
        lr = tf.where(i < w, tf.cast(_warmup(cfg, i, w), tf.float32), lr)
    return tf.identity(lr, name="learning_rate")


def evaluate_schedule(cfg, steps):
    """Python list of global steps -> list of float lr values (runs the graph once)."""
    graph = tf.Graph()
    with graph.as_default():
        step = tf.placeholder(tf.int64, [None])
        lrs = learning_rate(cfg, step)
        with tf.Session(graph=graph) as sess:
            return [float(v) for v in sess.run(lrs, {step: list(steps)})]
