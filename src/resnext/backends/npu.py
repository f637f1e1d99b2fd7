"""NPU ranks: Ascend 910 through npu_bridge (the TF Adapter) in session mode, averaged with HCCL.

Implements backends/base.py's Backend. One process per device; the launcher gives each its
env from the rank table (resnext.train.rankenv builds every rank's env). npu_bridge is imported
here only, and only when a backend object is built (so only with backend == "npu"); importing it
loads the adapter library, which registers the NpuOptimizer graph pass that `session_config()`
turns on.

Where gradients are averaged, and why here
------------------------------------------
step.py computes gradients itself (`tf.gradients` of the scaled loss), passes them through
`average_gradients`, then calls `optimizer.apply_gradients`. NPUDistributedOptimizer averages inside
its `compute_gradients`, which this flow never calls: wrapping the optimizer would average nothing.
So `wrap_optimizer` is the identity, and `average_gradients` does what NPUDistributedOptimizer would
have done: one `hccl_ops.allreduce(grad, "sum", fusion=1)` per gradient, times 1/rank_size.
Packing: with fusion=1 GE fuses those all-reduces into the segments of HCCL's gradient split
strategy (default two, ~96.5% / 3.5% of the bytes), so a step issues a few collectives on the wire,
not one per variable, and `hcom_parallel` overlaps them with back-propagation. Packing by hand into
flat buffers (as the CPU backend does) would defeat both and add copies. hccl_ops is used instead
of npu_optimizer.allreduce because the latter needs JOB_ID-based NPUBasics at graph-build time.
Logged scalars are averaged with fusion=0 so they stay out of the gradient segments.

Precision: `precision_mode` decides operator dtypes inside GE; the TF graph stays float32
(`compute_dtype`). Static loss scaling is step.py's (the seed's x1024 without overflow check).
`loss_scale: dynamic` is refused (config.py refuses it with fp16/bf16 on backend npu): the 910
saturates on fp16 overflow instead of producing inf/nan, so step.py's is_finite test cannot see it,
and NPULossScaleOptimizer needs its own compute_gradients, which step.py does not call.
Python 3.7, TF 1.15 API (the container); tests run it on TF 2.x against tests/fakes/npu_bridge.
"""

import collections
import contextlib
import logging
import os

from resnext import ranktable
from resnext.backends.base import Backend
from resnext.train.rankenv import npu_rank_env
from resnext.compat import tf
from resnext.config import ConfigError

log = logging.getLogger(__name__)

# our precision_mode -> the NpuOptimizer precision_mode string
NPU_PRECISION = {
    "allow_mix_precision": "allow_mix_precision",
    "allow_fp32_to_fp16": "allow_fp32_to_fp16",
    "must_keep_origin_dtype": "must_keep_origin_dtype",
    "force_fp32": "force_fp32",
    # fp32: never the 910's training default allow_fp32_to_fp16 (casts cube ops to fp16 in an fp32
    # graph). force_fp32 runs on every Ascend generation; on the 910 cube ops still read fp16
    # inputs with fp32 output (cube_fp16in_fp32out). must_keep_origin_dtype is strict but fails
    # where a kernel has no fp32 form: choose it explicitly.
    "fp32": "force_fp32",
}
ROOT_RANK = 0
FLOAT_TYPES = ("float16", "float32", "bfloat16")
LOOP_OP_NAME = "IterationOp"

Bridge = collections.namedtuple("Bridge", ["util", "hccl_ops"])


def npu_precision_mode(mode):
    """Our precision_mode -> the NPU's. fp16, bf16 and a dynamic loss scale never get here: the
    config refuses them with backend npu (config._npu_refusals), whatever loads it."""
    return NPU_PRECISION[mode]


def npu_session_config(precision_mode, iterations_per_loop, training=True):
    """ConfigProto with the NpuOptimizer custom pass (sess.run mode, facts §1, §8).

    training=False gives the online-inference form (graph_run_mode 0, one step per run, GetNext on
    the host) for evaluation and export.
    """
    # the documented enum's home (a protobuf module, same in TF 1.15 and 2.x); imported here, after
    # resnext.compat has imported TensorFlow
    from tensorflow.core.protobuf.rewriter_config_pb2 import RewriterConfig

    config = tf.ConfigProto(allow_soft_placement=True, log_device_placement=False)
    rewrite = config.graph_options.rewrite_options
    custom = rewrite.custom_optimizers.add()
    custom.name = "NpuOptimizer"
    params = custom.parameter_map
    params["use_off_line"].b = True
    params["precision_mode"].s = tf.compat.as_bytes(precision_mode)
    params["iterations_per_loop"].i = int(iterations_per_loop) if training else 1
    params["hcom_parallel"].b = True  # defaults differ by version (OLD False, NEW True): always set
    params["enable_data_pre_proc"].b = bool(training)  # GetNext on the device: needed by the loop
    params["mix_compile_mode"].b = False  # the on-device loop needs everything on the device
    params["graph_run_mode"].i = 1 if training else 0
    rewrite.remapping = RewriterConfig.OFF
    # memory_optimization is a MemOptType, not a Toggle: the docs' `RewriterConfig.OFF` (2) lands as
    # MANUAL, which still runs TF's MemoryOptimizer (grappler skips it only for NO_MEM_OPT, 1)
    rewrite.memory_optimization = RewriterConfig.NO_MEM_OPT
    return config


def _import_bridge():
    """Import npu_bridge (loads the adapter library and registers its ops and graph pass)."""
    try:
        import npu_bridge  # noqa: F401
        from npu_bridge.estimator.npu import util
        from npu_bridge.hccl import hccl_ops
    except ImportError as exc:
        raise ConfigError(
            "backend npu needs npu_bridge (the Ascend TF Adapter): run inside the Ascend "
            "TensorFlow 1.15 image (docker/ascend); import failed: %s" % exc
        )
    return Bridge(util, hccl_ops)


def inference_config(cfg):
    """ConfigProto for a single-device evaluation/export session on the NPU. Imports npu_bridge
    first: its library registers the NpuOptimizer pass the config names."""
    _import_bridge()
    return npu_session_config(npu_precision_mode(cfg.precision_mode), 1, training=False)


class NpuBackend(Backend):
    """One rank of a data-parallel job on an Ascend NPU
    (see the module docstring for the design)."""

    def __init__(self, cfg, rank, rank_size):
        self.npu_precision_mode = npu_precision_mode(cfg.precision_mode)
        if rank_size > 1 and not os.environ.get("RANK_TABLE_FILE"):
            raise ConfigError(
                "rank_size is %d but RANK_TABLE_FILE is not set: start NPU ranks with "
                "`resnext train` (it writes the rank table) or export it" % rank_size
            )
        super().__init__(cfg, rank, rank_size)
        self._bridge = _import_bridge()
        log.info(
            "npu rank %d/%d: precision_mode %s -> NPU %s, iterations_per_loop %d",
            rank,
            rank_size,
            cfg.precision_mode,
            self.npu_precision_mode,
            cfg.iterations_per_loop,
        )

    def session_config(self):
        return npu_session_config(
            self.npu_precision_mode, self.cfg.iterations_per_loop, training=True
        )

    def session_target(self):
        return ""

    def device_scope(self):
        return contextlib.nullcontext()

    def compute_dtype(self, cfg):
        """float32: the NPU applies mixed precision inside GE (precision_mode), not in the graph."""
        return tf.float32

    def wrap_optimizer(self, optimizer):
        """Identity: averaging happens in average_gradients (NPUDistributedOptimizer would average
        in compute_gradients, which step.py does not call)."""
        return optimizer

    def device_env(self, rank, table=None, table_path=None):
        """Env of rank `rank` from the rank table (default: RANK_TABLE_FILE / rank_table_file)."""
        path = table_path or self.cfg.rank_table_file or os.environ.get("RANK_TABLE_FILE")
        if table is None:
            if not path:
                raise ConfigError("no rank table: set rank_table_file or RANK_TABLE_FILE")
            table = ranktable.load_table(path, self.rank_size)
        return npu_rank_env(self.cfg, rank, table, os.path.abspath(path) if path else "")

    def _allreduce_mean(self, tensor, fusion):
        summed = self._bridge.hccl_ops.allreduce(tensor, "sum", fusion=fusion)
        return summed * (1.0 / self.rank_size)

    def average_gradients(self, grads_and_vars):
        """[(grad float32 [var shape], var)] -> the same with each grad averaged over ranks: one
        HCCL all-reduce per gradient, fused by GE into the split-strategy segments (fusion=1)."""
        if self.rank_size == 1:
            return list(grads_and_vars)
        averaged = []
        for grad, var in grads_and_vars:
            dense = tf.convert_to_tensor(grad)  # HcomAllReduce takes dense tensors
            averaged.append((self._allreduce_mean(dense, fusion=1), var))
        return averaged

    def average_scalars(self, tensors):
        """Scalars (any float dtype) -> float32 means over ranks,
        for logging the same loss everywhere."""
        if self.rank_size == 1:
            return list(tensors)
        return [self._allreduce_mean(tf.cast(t, tf.float32), fusion=0) for t in tensors]

    def broadcast_variables_op(self):
        """Op setting every float global variable (weights, BN statistics, momentum slots) to rank
        0's value, or None on one rank. Run on every rank after init/restore, before training."""
        if self.rank_size == 1:
            return None
        variables = [v for v in tf.global_variables() if v.dtype.base_dtype.name in FLOAT_TYPES]
        assigns = []
        for var in variables:
            # hccl broadcast takes and returns lists; the default
            # fusion=2/fusion_id=0 fuses all of them
            value = self._bridge.hccl_ops.broadcast([var], ROOT_RANK)[0]
            assigns.append(tf.assign(var, value))
        return tf.group(*assigns, name="broadcast_variables")

    def loop_op(self, sess, train_op):
        """-> (op running iterations_per_loop steps on the device per sess.run, that count).

        Call once per graph, after global and local variable initialisation: the loop counters are
        local variables that set_iteration_per_loop loads through `sess` (a later local init would
        zero them, and GE would then run one step per sess.run). GE loops only on a node named
        exactly IterationOp, so a second call is refused. set_iteration_per_loop builds its
        variables in the *default* graph and feeds them through `sess`, so it runs here inside
        train_op's graph, which must be the session's.
        """
        steps = int(self.cfg.iterations_per_loop)
        graph = train_op.graph
        if sess.graph is not graph:
            raise RuntimeError("loop_op: the session runs another graph than the train op's")
        if steps > 1 and LOOP_OP_NAME in [op.name for op in graph.get_operations()]:
            raise RuntimeError("set_iteration_per_loop was already called on this graph")
        with graph.as_default():
            return self._bridge.util.set_iteration_per_loop(sess, train_op, steps), steps
