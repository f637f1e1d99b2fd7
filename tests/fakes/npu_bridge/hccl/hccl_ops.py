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
The group (hccl/_group.py): in a process started as one rank of several (RANK_SIZE > 1 in its env,
as the launcher starts NPU ranks) each collective exchanges its value with the other ranks' and
reduces (sum/min/max/prod; broadcast: root_rank's value; allgather: the ranks' values in rank
order), as tf.py_func ops named fake_Hcom*. Otherwise the process is a group of one, and the
collectives return their inputs (what a one-rank group gives), as `tf.identity` ops named
fake_Hcom*.
"""

import numpy as np

from npu_bridge import record
from npu_bridge.hccl import _group
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
    record(
        "hccl_ops.allreduce",
        tensor=tensor,
        reduction=reduction,
        fusion=fusion,
        fusion_id=fusion_id,
        group=group,
    )
    if reduction not in REDUCTIONS:
        raise ValueError("reduction %r not in %s" % (reduction, REDUCTIONS))
    if fusion not in (0, 1, 2):
        raise ValueError("fusion must be 0, 1 or 2, not %r" % (fusion,))
    if fusion != 0 and reduction != "sum":
        raise ValueError("fusion supports only reduction 'sum'")
    if getattr(tensor, "op", None) is not None and tensor.op.type in VARIABLE_OPS:
        raise ValueError(
            "allreduce input must not come straight from a variable (%s)" % tensor.op.name
        )
    tensor = _check_tensor(tensor, "allreduce")
    if _group.size() == 1:
        return tf.identity(tensor, name="fake_HcomAllReduce")
    reduce = {"sum": np.sum, "min": np.min, "max": np.max, "prod": np.prod}[reduction]
    return _across_ranks(
        "allreduce-fusion%d" % fusion,
        tensor,
        "fake_HcomAllReduce",
        lambda values: reduce(np.stack(values), axis=0).astype(values[0].dtype),
    )


def broadcast(tensor, root_rank, fusion=2, fusion_id=0, group=WORLD):
    """list of tensors -> list of tensors of the same shapes (fake: the inputs)."""
    record(
        "hccl_ops.broadcast",
        tensor=tensor,
        root_rank=root_rank,
        fusion=fusion,
        fusion_id=fusion_id,
        group=group,
    )
    if not isinstance(tensor, (list, tuple)):
        raise TypeError(
            "broadcast takes a list of tensors (op attr T: list(type)), got %s" % type(tensor)
        )
    if not isinstance(root_rank, int):
        raise TypeError("root_rank must be an int")
    tensors = [_check_tensor(t, "broadcast") for t in tensor]
    if _group.size() == 1:
        return [tf.identity(t, name="fake_HcomBroadcast") for t in tensors]
    drop = _group.drops_broadcast()  # the tests' planted fault (hccl/_group.py), off by default
    return [
        _across_ranks(
            "broadcast",
            t,
            "fake_HcomBroadcast",
            lambda values, own=_group.rank(): values[own if drop else root_rank],
        )
        for t in tensors
    ]


def allgather(tensor, rank_size, group=WORLD):  # npu-api-ok: CANN 20.x form (no fusion, fusion_id)
    """tensor [N, ...] -> [N * rank_size, ...] (fake: rank_size copies of the input)."""
    record("hccl_ops.allgather", tensor=tensor, rank_size=rank_size, group=group)
    tensor = _check_tensor(tensor, "allgather")
    if _group.size() == 1:
        return tf.concat([tensor] * int(rank_size), axis=0, name="fake_HcomAllGather")
    gathered = _across_ranks(
        "allgather", tensor, "fake_HcomAllGather", lambda values: np.concatenate(values, axis=0)
    )
    gathered.set_shape(tf.TensorShape([None]).concatenate(tensor.shape[1:]))
    return gathered


def _across_ranks(chain, tensor, name, reduce):
    """A py_func op exchanging `tensor` with the other ranks (hccl/_group.py) -> reduce(values).

    Chained after the previous op of the same chain in this graph, so every rank runs a chain's
    collectives in the order they were built."""
    graph = tensor.graph
    key = "fake_hccl_chain_" + chain
    previous = graph.get_collection(key)[-1:]

    def run(value):
        return np.asarray(reduce(_group.exchange(chain, value)), dtype=value.dtype)

    with tf.control_dependencies(previous):
        out = tf.py_func(run, [tensor], tensor.dtype, stateful=True, name=name)
    if chain != "allgather":
        out.set_shape(tensor.shape)
    graph.add_to_collection(key, out.op)
    return out
