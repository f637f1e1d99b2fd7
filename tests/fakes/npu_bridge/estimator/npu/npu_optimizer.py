"""RECORDING FAKE of npu_bridge.estimator.npu.npu_optimizer (facts §3.1).

NPUDistributedOptimizer averages in compute_gradients (allreduce(grad, average=True)) and delegates
apply_gradients, as documented; resnext's NPU backend does not use it (see backends/npu.py), and
the contract tests check that it is never constructed.
"""
import os

from npu_bridge import record
from npu_bridge.hccl import hccl_ops
from resnext.compat import tf


def _rank_size():
    return int(os.environ.get("RANK_SIZE", "1"))


def allreduce(tensor, average=True):
    """HcomAllReduce 'sum', divided by the rank size when average (fake rank size: RANK_SIZE env)."""
    record("npu_optimizer.allreduce", tensor=tensor, average=average)
    summed = hccl_ops.allreduce(tensor, "sum")
    return summed / float(_rank_size()) if average else summed


class NPUDistributedOptimizer(tf.train.Optimizer):
    """Wraps an optimizer; compute_gradients averages over ranks when RANK_SIZE > 1."""

    def __init__(self, optimizer, is_weight_update_sharding=False, name=None):
        record("npu_optimizer.NPUDistributedOptimizer", optimizer=optimizer,
               is_weight_update_sharding=is_weight_update_sharding, name=name)
        super(NPUDistributedOptimizer, self).__init__(use_locking=False, name=name or "NPUDistributedOptimizer")
        self._optimizer = optimizer

    def compute_gradients(self, *args, **kwargs):
        record("NPUDistributedOptimizer.compute_gradients")
        grads_and_vars = self._optimizer.compute_gradients(*args, **kwargs)
        if _rank_size() <= 1:
            return grads_and_vars
        return [(allreduce(g, True) if g is not None else None, v) for g, v in grads_and_vars]

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        record("NPUDistributedOptimizer.apply_gradients", global_step=global_step)
        return self._optimizer.apply_gradients(grads_and_vars, global_step, name)

    def get_slot(self, *args, **kwargs):
        return self._optimizer.get_slot(*args, **kwargs)

    def get_slot_names(self, *args, **kwargs):
        return self._optimizer.get_slot_names(*args, **kwargs)

    def variables(self, *args, **kwargs):
        return self._optimizer.variables(*args, **kwargs)
