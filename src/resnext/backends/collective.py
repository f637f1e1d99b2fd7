"""TensorFlow's collective all-reduce between rank processes, wired in graph mode.

Each rank runs a `tf.distribute.Server` of a ClusterSpec (job "worker", one task per rank) and a
session on it; ops live on /job:worker/task:<rank>. Tensors are packed into a few flat buffers of at
most `allreduce_buffer_mb` and each buffer is reduced by one `CollectiveReduceV2` (TF's ring
all-reduce), so a step issues a handful of collectives, not one per variable. Instance keys are
handed out in graph-construction order, which is the same on every rank.
The collective op itself exists only in TF 2.x (lines marked tf2-only); Python 3.7 syntax.
"""

import json
import os

from resnext.compat import tf

GROUP_KEY = 1
LEADER = "/job:worker/replica:0/task:0"


def cluster_from_env():
    """host:port list the launcher put in RESNEXT_CLUSTER (one entry per rank)."""
    hosts = json.loads(os.environ.get("RESNEXT_CLUSTER", "[]"))
    if not hosts:
        raise RuntimeError(
            "RESNEXT_CLUSTER is not set: multi-rank training must be started by `resnext train`"
        )
    return hosts


def session_config(base):
    base.experimental.collective_group_leader = LEADER
    return base


def start_server(hosts, rank, config):
    """Start this rank's gRPC server; -> server (its .target is the session target)."""
    cluster = tf.train.ClusterSpec({"worker": list(hosts)})
    return tf.distribute.Server(
        cluster, job_name="worker", task_index=rank, config=config, start=True
    )


def pack_groups(tensors, max_bytes):
    """Split tensors (in order) into consecutive groups of at most max_bytes (float32 sizes)."""
    groups, current, size = [], [], 0
    for t in tensors:
        nbytes = 4 * max(1, t.shape.num_elements() or 1)
        if current and size + nbytes > max_bytes:
            groups.append(current)
            current, size = [], 0
        current.append(t)
        size += nbytes
    if current:
        groups.append(current)
    return groups


class Collectives:
    """Packed all-reduce of lists of tensors across `group_size` ranks."""

    def __init__(self, group_size, max_bytes, hint="auto", wire_dtype=None):
        self.group_size = group_size
        self.max_bytes = max_bytes
        self.hint = hint
        # Gradient compression: reduce in a 16-bit type (halves the bytes the ring moves),
        # cast back.
        self.wire_dtype = wire_dtype
        self._next_key = 1

    def _reduce_flat(self, flat, final_op):
        key = self._next_key
        self._next_key += 1
        return (
            tf.raw_ops.CollectiveReduceV2(  # tf2-only: the Ascend container averages through HCCL
                input=flat,
                group_size=self.group_size,
                group_key=GROUP_KEY,
                instance_key=key,
                ordering_token=[],
                merge_op="Add",
                final_op=final_op,
                communication_hint=self.hint,
            )
        )

    def reduce(self, tensors, average=True, compress=True):
        """List of float32 tensors -> their sums (or means) over all ranks, same shapes.
        compress=False sends float32 even when a 16-bit wire type is configured."""
        out = []
        for group in pack_groups(tensors, self.max_bytes):
            flat = tf.concat([tf.reshape(t, [-1]) for t in group], axis=0)
            if compress and self.wire_dtype is not None:
                flat = tf.cast(flat, self.wire_dtype)
            reduced = tf.cast(self._reduce_flat(flat, "Div" if average else "Id"), tf.float32)
            sizes = [t.shape.num_elements() for t in group]
            out.extend(tf.reshape(p, t.shape) for p, t in zip(tf.split(reduced, sizes), group))
        return out

    def broadcast_from_rank0(self, variables, rank):
        """Op that sets every variable to rank 0's value
        (an all-reduce of rank 0's values + zeros)."""
        values = [v.read_value() if rank == 0 else tf.zeros_like(v) for v in variables]
        summed = self.reduce(values, average=False, compress=False)  # weights travel exactly
        return tf.group(
            *[tf.assign(v, s) for v, s in zip(variables, summed)], name="broadcast_variables"
        )
