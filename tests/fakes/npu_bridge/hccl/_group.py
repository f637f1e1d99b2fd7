"""FAKE of the HCCL group across processes: what hccl_ops' collectives exchange between ranks.

Real HCCL joins the processes of one job (one per device, RANK_ID/RANK_SIZE and the rank table in
their env, JOB_ID naming the job) and runs each collective when every rank reaches it; ranks that
built different graphs, or run them in another order, hang (../shared facts §4: "every rank must
build and run identical graphs that contain HCCL ops"). Mirrored here, so that a multi-process
job on the fake really averages gradients and really broadcasts rank 0's values:
- the group is the job the environment describes: RANK_SIZE ranks, this one RANK_ID. Without
  RANK_SIZE (or with 1) the process is a group of one, and hccl_ops returns its inputs.
- a collective is one tf.py_func; each rank writes its value to a file in the job's folder and
  reads every other rank's value of the same collective, then reduces. Collectives of one kind
  (gradient all-reduces, logged-scalar all-reduces, broadcasts: `chain`) run in the order they
  were built, every rank alike (control dependencies in the graph), which GE's op ids give the
  device; the n-th call of a chain on one rank meets the n-th on the others.
- the folder: $FAKE_HCCL_DIR (tests point it at their tmp_path) or the system temp folder, under
  fake-hccl-<JOB_ID>-<parent pid> (the ranks of one launcher share it; the next job does not).
  A rank removes its file of call n-2 when it writes call n (every peer has read it by then).
- a peer that never comes waits HCCL_CONNECT_TIMEOUT seconds (the real timeout variable), then
  raises; values of different shapes at one call raise (real HCCL hangs or fails there).
Test switch (off by default, never set outside tests): FAKE_HCCL_BROADCAST_DROP_RANK=<rank> makes
that rank's broadcasts return its own values, as if rank 0's update never reached it: the planted
fault of tests/npucheck, which `resnext npu-check` must catch.
"""

import collections
import os
import tempfile
import time

import numpy as np

POLL_S = 0.002
_CALLS = collections.defaultdict(int)  # chain -> calls made by this process


def size():
    return int(os.environ.get("RANK_SIZE") or 1)


def rank():
    return int(os.environ.get("RANK_ID") or 0)


def drops_broadcast():
    """True on the rank FAKE_HCCL_BROADCAST_DROP_RANK names (the tests' planted fault)."""
    return os.environ.get("FAKE_HCCL_BROADCAST_DROP_RANK", "") == str(rank())


def _folder():
    base = os.environ.get("FAKE_HCCL_DIR") or tempfile.gettempdir()
    name = "fake-hccl-%s-%d" % (os.environ.get("JOB_ID", "0"), os.getppid())
    return os.path.join(base, name)


def _path(folder, chain, call, who):
    return os.path.join(folder, "%s-%d-rank%d.npy" % (chain, call, who))


def _write(path, value):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.save(f, value)
    os.replace(tmp, path)


def _read(path, chain, call, who):
    limit = float(os.environ.get("HCCL_CONNECT_TIMEOUT") or 120)
    deadline = time.time() + limit
    while not os.path.exists(path):
        if time.time() > deadline:
            raise RuntimeError(
                "fake HCCL: rank %d never reached %s call %d (%.0f s, "
                "HCCL_CONNECT_TIMEOUT)" % (who, chain, call, limit)
            )
        time.sleep(POLL_S)
    with open(path, "rb") as f:
        return np.load(f)


def exchange(chain, value):
    """value (numpy) -> [the value of rank 0, ..., rank size-1] at this rank's next `chain` call."""
    call = _CALLS[chain]
    _CALLS[chain] += 1
    folder = _folder()
    os.makedirs(folder, exist_ok=True)
    me = rank()
    _write(_path(folder, chain, call, me), value)
    values = [
        value if who == me else _read(_path(folder, chain, call, who), chain, call, who)
        for who in range(size())
    ]
    if any(v.shape != value.shape for v in values):
        raise RuntimeError(
            "fake HCCL: %s call %d has shapes %s across ranks: the ranks built "
            "different graphs" % (chain, call, [v.shape for v in values])
        )
    stale = _path(folder, chain, call - 2, me)
    if os.path.exists(stale):
        os.remove(stale)
    return values
