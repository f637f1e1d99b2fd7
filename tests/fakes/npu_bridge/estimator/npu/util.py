"""RECORDING FAKE of npu_bridge.estimator.npu.util (facts §2).

set_iteration_per_loop behaves like the real one on the graph side (validation, four int64 loop
variables in LOCAL_VARIABLES loaded through `sess`, a group named exactly IterationOp), and in
addition refuses to run before every global and local variable is initialised, the order the
facts doc infers. The fake IterationOp runs one step per sess.run: there is no device loop.
"""
from npu_bridge import record
from resnext.compat import tf

LOOP_VARIABLES = (("iterations_per_loop", None), ("loop_cond", 0), ("zero", 0), ("one", 1))


def check_positive_integer(value, name="iterations_per_loop"):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("%s must be a positive integer, got %r" % (name, value))


def _check_initialised(sess):
    missing = sess.run(tf.report_uninitialized_variables(tf.global_variables() + tf.local_variables()))
    if len(missing):
        raise RuntimeError("fake npu_bridge: set_iteration_per_loop before variable initialisation; "
                           "uninitialised: %s" % ", ".join(m.decode() for m in missing[:5]))


def _loop_variables(sess, iterations_per_loop):
    for name, value in LOOP_VARIABLES:
        var = tf.Variable(tf.zeros([], tf.int64), trainable=False, name="npu_runconfig/" + name,
                          collections=[tf.GraphKeys.LOCAL_VARIABLES, "npu_runconfig_" + name])
        sess.run(var.initializer)
        var.load(iterations_per_loop - 1 if value is None else value, sess)


def set_iteration_per_loop(sess, train_op, iterations_per_loop=1):
    """-> train_op itself when iterations_per_loop is 1, else tf.group(train_op, name='IterationOp')."""
    record("util.set_iteration_per_loop", sess=sess, train_op=train_op, iterations_per_loop=iterations_per_loop)
    if not isinstance(train_op, tf.Operation):
        raise ValueError("train_op must be a tf.Operation, got %s" % type(train_op).__name__)
    check_positive_integer(iterations_per_loop)
    if iterations_per_loop == 1:
        return train_op
    with sess.graph.as_default():
        _check_initialised(sess)
        _loop_variables(sess, iterations_per_loop)
        return tf.group(train_op, name="IterationOp")


class IterationPerLoop(object):
    """Two-phase form for graphs finalised before the session runs (recorded only)."""

    def create_iteration_per_loop_var(self, train_op):
        record("util.IterationPerLoop.create_iteration_per_loop_var", train_op=train_op)
        return tf.group(train_op, name="IterationOp")

    def load_iteration_per_loop_var(self, sess, iterations_per_loop=1):
        record("util.IterationPerLoop.load_iteration_per_loop_var", sess=sess,
               iterations_per_loop=iterations_per_loop)
