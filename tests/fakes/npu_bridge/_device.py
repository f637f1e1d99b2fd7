"""FAKE of what the adapter's C++ side and GE do with a session-mode graph, where a Python fake
can stand in for it: the on-device training loop and the partition pass's fatal checks.

The real adapter library (loaded by `import npu_bridge`) registers the NpuOptimizer graph pass;
a session whose ConfigProto names that custom optimizer (and keeps `use_off_line` True, the
default) has its graph compiled by GE and run as a GeOp. Mirrored here:
- The loop (tf_adapter/kernels/geop_npu.cc, hicann/tensorflow: a graph holding a node named
  exactly "IterationOp" turns on `need_iteration_`; graphengine ge/graph/passes/flow_ctrl_pass.cc:
  a StreamSwitch on `npu_runconfig/loop_cond` < `npu_runconfig/iterations_per_loop` with an
  AssignAdd of `one` re-runs the graph and an Assign of `zero` ends it). So one sess.run that
  fetches IterationOp runs the graph (value of npu_runconfig/iterations_per_loop) + 1 times:
  iterations_per_loop times after set_iteration_per_loop, once if something reset the variable
  to 0 (a local-variable initialiser run after it). Fetched values are the last iteration's
  (what ModelZoo scripts assume; no document states it).
- tf_adapter/optimizers/om_partition_subgraphs_pass.cc aborts the process (LOG(FATAL)) when
  iterations_per_loop > 1 and the graph holds a OneShotIterator, or mix_compile_mode is on; the
  fake raises RuntimeError instead of aborting.
Sessions without NpuOptimizer (or with use_off_line False) run on the host, one step per run, as
with the real adapter. Installed by npu_bridge/__init__.py on import (as the real package loads
its library on import); `uninstall()` gives tf.Session its own run back (tests/backends fixture).
LOOPS records the iteration count of every device loop run, in order.
"""

from tensorflow.python.client import session as session_lib

from resnext.compat import tf

LOOP_OP = "IterationOp"
ITERATIONS_VAR = "npu_runconfig_iterations_per_loop"
_HOST_RUN = []
LOOPS = []


def install():
    if not _HOST_RUN:
        _HOST_RUN.append(session_lib.BaseSession.run)
        session_lib.BaseSession.run = _run


def uninstall():
    if _HOST_RUN:
        session_lib.BaseSession.run = _HOST_RUN.pop()


def npu_options(config):
    """{parameter_map key: value} of the NpuOptimizer in a ConfigProto; None without one."""
    if config is None:
        return None
    for custom in config.graph_options.rewrite_options.custom_optimizers:
        if custom.name == "NpuOptimizer":
            params = custom.parameter_map
            return {
                key: getattr(params[key], params[key].WhichOneof("value"))
                for key in params
                if params[key].WhichOneof("value")
            }
    return None


def _fetched_ops(graph, fetches):
    ops = []
    for item in tf.nest.flatten(fetches):
        if isinstance(item, str):
            item = graph.as_graph_element(item)
        ops.append(item if isinstance(item, tf.Operation) else getattr(item, "op", None))
    return ops


def _partition_checks(graph, options):
    loop = options.get("iterations_per_loop", 1)
    if loop > 1 and any(op.type == "OneShotIterator" for op in graph.get_operations()):
        raise RuntimeError(
            "fake GE (om_partition_subgraphs_pass, LOG(FATAL) on a real NPU): "
            "iterations_per_loop %d with a OneShotIterator in the graph; use an "
            "initializable iterator" % loop
        )
    if loop > 1 and options.get("mix_compile_mode", False):
        raise RuntimeError(
            "fake GE (om_partition_subgraphs_pass, LOG(FATAL) on a real NPU): "
            "mix_compile_mode needs iterations_per_loop 1"
        )


def _iterations(sess, fetches):
    """How many times the device runs the graph for this sess.run (1 on the host)."""
    options = npu_options(getattr(sess, "_config", None))
    if options is None or not options.get("use_off_line", True):
        return 1, None
    graph = sess.graph
    _partition_checks(graph, options)
    loop_ops = [op for op in _fetched_ops(graph, fetches) if op is not None and op.name == LOOP_OP]
    variables = graph.get_collection(ITERATIONS_VAR)
    if not loop_ops or not variables:
        return 1, None
    value = _HOST_RUN[0](sess, variables[0]._graph_element)  # its own read op: adds no op
    return int(value) + 1, loop_ops[0]


def _run(self, fetches, feed_dict=None, options=None, run_metadata=None):
    count, loop_op = _iterations(self, fetches)
    host_run = _HOST_RUN[0]
    if loop_op is not None:
        LOOPS.append(count)
    for _ in range(count - 1):
        host_run(self, loop_op, feed_dict, options, run_metadata)
    return host_run(self, fetches, feed_dict, options, run_metadata)
