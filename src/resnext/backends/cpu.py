"""CPU and GPU ranks: one process per device; gradients averaged with TF's collective all-reduce.

With rank_size 1 this is a plain session. With more ranks every rank starts a gRPC server of the
launcher's ClusterSpec and runs its graph on /job:worker/task:<rank> (see backends/collective.py).
Batch-norm statistics stay local to each rank, as in the seed. Python 3.7, TF 1.15 API.
"""

import contextlib
import multiprocessing

from resnext.backends.base import Backend
from resnext.compat import tf


class CollectiveBackend(Backend):
    """One rank of a data-parallel job on CPU or GPU (the methods are documented in base.py)."""

    def __init__(self, cfg, rank, rank_size):
        super().__init__(cfg, rank, rank_size)
        self._server = None
        self._collectives = None
        if rank_size > 1:
            from resnext.backends import collective

            wire = None if cfg.allreduce_dtype == "float32" else getattr(tf, cfg.allreduce_dtype)
            self._collectives = collective.Collectives(
                rank_size,
                cfg.allreduce_buffer_mb * 2**20,
                "nccl" if cfg.backend == "gpu" else "auto",
                wire,
            )
            self._server = collective.start_server(
                collective.cluster_from_env(), rank, self.session_config()
            )

    def threads(self):
        if self.cfg.threads_per_rank:
            return self.cfg.threads_per_rank
        return max(1, multiprocessing.cpu_count() // max(1, self.rank_size))

    def session_config(self):
        config = tf.ConfigProto(allow_soft_placement=True)
        config.intra_op_parallelism_threads = self.threads()
        config.inter_op_parallelism_threads = 2
        if self.cfg.backend == "gpu":
            config.gpu_options.allow_growth = True
        if self.cfg.precision_mode == "bf16":
            from resnext.compat import bf16_rewrite_options

            bf16_rewrite_options(config)
        if self.rank_size > 1:
            from resnext.backends import collective

            collective.session_config(config)
        return config

    def session_target(self):
        return self._server.target if self._server is not None else ""

    def device_scope(self):
        if self.rank_size == 1:
            return contextlib.nullcontext()
        return tf.device("/job:worker/task:%d" % self.rank)

    def compute_dtype(self, cfg):
        return tf.float16 if cfg.precision_mode == "fp16" else tf.float32

    def wrap_optimizer(self, optimizer):
        return optimizer

    def loop_op(self, sess, train_op):
        """-> (op to run, train steps per run): one step per sess.run on CPU/GPU."""
        return train_op, 1

    def average_gradients(self, grads_and_vars):
        """[(grad, var)] -> the same with every grad averaged over ranks (packed all-reduce)."""
        if self.rank_size == 1:
            return grads_and_vars
        grads = self._collectives.reduce([g for g, _ in grads_and_vars])
        return list(zip(grads, [v for _, v in grads_and_vars]))

    def average_scalars(self, tensors):
        """Scalars averaged over ranks, for logging the same loss on every rank."""
        if self.rank_size == 1:
            return list(tensors)
        return self._collectives.reduce([tf.cast(t, tf.float32) for t in tensors])

    def broadcast_variables_op(self):
        """Op setting every float variable to rank 0's value, or None on one rank."""
        if self.rank_size == 1:
            return None
        variables = [v for v in tf.global_variables() if v.dtype.base_dtype == tf.float32]
        return self._collectives.broadcast_from_rank0(variables, self.rank)
