"""RECORDING FAKE of npu_bridge.estimator.npu.util: the iterations_per_loop API (facts §2).

Mirrors, from tf_adapter/python/npu_bridge/estimator/npu/util.py (Ascend/tensorflow @ 82507eb2,
CANN 20.x, and hicann/tensorflow, current; the same code in both):
- check_positive_integer(value, name): `name` is required; a non-int raises TypeError, a value
  <= 0 ValueError. A bool is an int there, so True passes as 1.
- create_or_get_var(var_name): in the *default* graph (ops.get_default_graph, not sess.graph),
  returns the one variable of collection npu_runconfig_<name> if there is one; else creates it
  with variable_scope("npu_runconfig", reuse=AUTO_REUSE) as an int64 resource variable, zeros
  initializer, in that collection and GraphKeys.LOCAL_VARIABLES, colocated with global_step when
  the default graph has one.
- set_iteration_per_loop(sess, train_op, iterations_per_loop=1): ValueError unless train_op is an
  Operation; check_positive_integer; 1 returns train_op itself; else creates or gets the four
  variables and `.load()`s iterations_per_loop-1, 0, 0, 1 through `sess` (a load feeds the
  variable's initializer, so called outside `with sess.graph.as_default():` TensorFlow raises
  TypeError "Cannot interpret feed_dict key as Tensor ... is not an element of this graph"), then
  returns tf.group(train_op, name="IterationOp"). It does not check that other variables are
  initialised; a second call in one graph makes IterationOp_1, which GE does not loop.
- IterationPerLoop: create_iteration_per_loop_var(train_op) before the graph is finalised,
  load_iteration_per_loop_var(sess, iterations_per_loop=1) after.
What the device then does with IterationOp (run it iterations_per_loop times per sess.run) is
the fake GE's, in npu_bridge/_device.py.
"""

from npu_bridge import record
from resnext.compat import tf

_NPU_RUNCONFIG = "npu_runconfig"
_ITERATIONS_PER_LOOP_VAR = "iterations_per_loop"
_LOOP_COND_VAR = "loop_cond"
_CONST_ZERO = "zero"
_CONST_ONE = "one"


def check_positive_integer(value, name):
    if not isinstance(value, int):
        raise TypeError(f"{name} must be int, got {type(value)}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


def create_or_get_var(var_name):
    graph = tf.get_default_graph()
    collection = f"{_NPU_RUNCONFIG}_{var_name}"
    found = graph.get_collection(collection)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise RuntimeError("Multiple var in collection.")
    step = tf.train.get_global_step()
    with graph.colocate_with(step, ignore_existing=step is None):
        with tf.variable_scope(_NPU_RUNCONFIG, reuse=tf.AUTO_REUSE):
            return tf.get_variable(
                var_name,
                initializer=tf.zeros_initializer(),
                shape=[],
                dtype=tf.int64,
                trainable=False,
                collections=[collection, tf.GraphKeys.LOCAL_VARIABLES],
                use_resource=True,
            )


def _check_operation(train_op):
    if not isinstance(train_op, tf.Operation):
        raise ValueError(
            "The incoming 'train_op' type is '%s', and the need type is 'Operation'"
            % type(train_op).__name__
        )


def _loop_variables():
    return [
        create_or_get_var(name)
        for name in (_ITERATIONS_PER_LOOP_VAR, _LOOP_COND_VAR, _CONST_ZERO, _CONST_ONE)
    ]


def _load(variables, sess, iterations_per_loop):
    for var, value in zip(variables, (iterations_per_loop - 1, 0, 0, 1)):
        var.load(value, session=sess)


def set_iteration_per_loop(sess, train_op, iterations_per_loop=1):
    """-> train_op itself when iterations_per_loop is 1,
    else tf.group(train_op, name='IterationOp')."""
    record(
        "util.set_iteration_per_loop",
        sess=sess,
        train_op=train_op,
        iterations_per_loop=iterations_per_loop,
    )
    _check_operation(train_op)
    check_positive_integer(iterations_per_loop, "iterations_per_loop")
    if iterations_per_loop == 1:
        return train_op
    _load(_loop_variables(), sess, iterations_per_loop)
    return tf.group(train_op, name="IterationOp")


class IterationPerLoop:
    """The two-phase form, for graphs finalised before the session runs."""

    def __init__(self):
        self._variables = None

    def create_iteration_per_loop_var(self, train_op):
        record("util.IterationPerLoop.create_iteration_per_loop_var", train_op=train_op)
        _check_operation(train_op)
        self._variables = _loop_variables()
        return tf.group(train_op, name="IterationOp")

    def load_iteration_per_loop_var(self, sess, iterations_per_loop=1):
        record(
            "util.IterationPerLoop.load_iteration_per_loop_var",
            sess=sess,
            iterations_per_loop=iterations_per_loop,
        )
        check_positive_integer(iterations_per_loop, "iterations_per_loop")
        _load(self._variables, sess, iterations_per_loop)
