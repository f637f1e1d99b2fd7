"""RECORDING FAKE of npu_bridge.estimator.npu.npu_optimizer (facts §3.1).

Mirrors tf_adapter/python/npu_bridge/estimator/npu/npu_optimizer.py (Ascend/tensorflow @ 82507eb2,
CANN 20.x; hicann/tensorflow):
- allreduce(tensor, average=True): HcomAllReduce "sum", divided by the rank size that
  NPUBasics("").size() reads from the job's env; NPUBasics holds no job info without JOB_ID, so
  the average then fails with AttributeError (npu_common.py; inferred from the code).
- NPUDistributedOptimizer(optimizer, is_weight_update_sharding=False, name=None): a
  tf.train.Optimizer whose compute_gradients calls the inner one, then averages each gradient
  with allreduce when RANK_SIZE (or CM_WORKER_SIZE) is above 1; apply_gradients, get_slot,
  get_slot_names and variables are the inner optimizer's.
resnext's NPU backend does not use either (see backends/npu.py); the contract tests check that it
never constructs the optimizer.
"""

import os

from npu_bridge import record
from npu_bridge.hccl import hccl_ops
from resnext.compat import tf


def _rank_size():
    return int(os.environ.get("RANK_SIZE") or os.environ.get("CM_WORKER_SIZE") or "1")


def allreduce(tensor, average=True):
    """HcomAllReduce 'sum', divided by the rank size (RANK_SIZE env) when average."""
    record("npu_optimizer.allreduce", tensor=tensor, average=average)
    summed = hccl_ops.allreduce(tensor, "sum")
    if not average:
        return summed
    if not os.environ.get("JOB_ID"):
        raise AttributeError(
            "'NoneType' object has no attribute 'size' (fake npu_bridge: "
            "NPUBasics has no job info without JOB_ID)"
        )
    return summed / float(_rank_size())


class NPUDistributedOptimizer(tf.train.Optimizer):
    """Wraps an optimizer; compute_gradients averages over ranks when RANK_SIZE > 1."""

    def __init__(self, optimizer, is_weight_update_sharding=False, name=None):
        record(
            "npu_optimizer.NPUDistributedOptimizer",
            optimizer=optimizer,
            is_weight_update_sharding=is_weight_update_sharding,
            name=name,
        )
        super().__init__(use_locking=False, name=name or "NPUDistributedOptimizer")
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
