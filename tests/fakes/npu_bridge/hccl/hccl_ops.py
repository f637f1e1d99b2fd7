"""RECORDING FAKE of npu_bridge.hccl.hccl_ops (facts §3.2).

Mirrors tf_adapter/python/npu_bridge/hccl/hccl_ops.py and the op definitions in
tf_adapter/ops/hccl/hccl_ops.cc (Ascend/tensorflow @ 82507eb2, CANN 20.x; hicann/tensorflow):
- allreduce(tensor, reduction, fusion=1, fusion_id=-1, group="hccl_world_group"): HcomAllReduce,
  reduction one of min/max/prod/sum (op attr), dtypes int8/16/32/64, float16/32, bfloat16;
  fusion 0 (never), 1 (by the gradient split strategy), 2 (by fusion_id), fusion only with "sum";
  the input must not come straight from a variable (apiref/hccl_ops/allreduce.md).
- broadcast(tensor, root_rank, fusion=2, fusion_id=0, group=...): HcomBroadcast takes and returns
  a *list* of tensors (op attr T: list(type)).
- allgather(tensor, rank_size, group=...): the CANN 20.x signature; fusion/fusion_id exist only in
  newer adapters, so a call passing them fails here as it would on the older stack.
One process stands in for the whole group, so the collectives return their inputs unchanged (what
a one-rank group would give), as `tf.identity` ops named fake_Hcom*.
"""
from npu_bridge import record
from resnext.compat import tf

REDUCTIONS = ("min", "max", "prod", "sum")
DTYPES = ("int8", "int16", "int32", "int64", "float16", "float32", "bfloat16")
VARIABLE_OPS = ("VariableV2", "VarHandleOp", "ReadVariableOp", "Variable")
WORLD = "hccl_world_group"


def _check_tensor(tensor, what):
    tensor = tf.convert_to_tensor(tensor)
    if tensor.dtype.base_dtype.name not in DTYPES:
        raise TypeError("%s: dtype %s not supported by HCCL" % (what, tensor.dtype.name))
    return tensor


def allreduce(tensor, reduction, fusion=1, fusion_id=-1, group=WORLD):
    """tensor [any shape] -> same shape and dtype (fake: the input)."""
    record("hccl_ops.allreduce", tensor=tensor, reduction=reduction, fusion=fusion, fusion_id=fusion_id,
           group=group)
    if reduction not in REDUCTIONS:
        raise ValueError("reduction %r not in %s" % (reduction, REDUCTIONS))
    if fusion not in (0, 1, 2):
        raise ValueError("fusion must be 0, 1 or 2, not %r" % (fusion,))
    if fusion != 0 and reduction != "sum":
        raise ValueError("fusion supports only reduction 'sum'")
    if getattr(tensor, "op", None) is not None and tensor.op.type in VARIABLE_OPS:
        raise ValueError("allreduce input must not come straight from a variable (%s)" % tensor.op.name)
    tensor = _check_tensor(tensor, "allreduce")
    return tf.identity(tensor, name="fake_HcomAllReduce")


def broadcast(tensor, root_rank, fusion=2, fusion_id=0, group=WORLD):
    """list of tensors -> list of tensors of the same shapes (fake: the inputs)."""
    record("hccl_ops.broadcast", tensor=tensor, root_rank=root_rank, fusion=fusion, fusion_id=fusion_id,
           group=group)
    if not isinstance(tensor, (list, tuple)):
        raise TypeError("broadcast takes a list of tensors (op attr T: list(type)), got %s" % type(tensor))
    if not isinstance(root_rank, int):
        raise TypeError("root_rank must be an int")
    return [tf.identity(_check_tensor(t, "broadcast"), name="fake_HcomBroadcast") for t in tensor]


def allgather(tensor, rank_size, group=WORLD):  # npu-api-ok: CANN 20.x form (no fusion, fusion_id)
    """tensor [N, ...] -> [N * rank_size, ...] (fake: rank_size copies of the input)."""
    record("hccl_ops.allgather", tensor=tensor, rank_size=rank_size, group=group)
    return tf.concat([_check_tensor(tensor, "allgather")] * int(rank_size), axis=0, name="fake_HcomAllGather")
