"""A pool of NPU devices shared by concurrent jobs (evaluations, exports, a training block).

Snakemake's `resources: npu=N` caps how many devices jobs use at once, but not *which* ones. Each
job therefore takes devices from a pool folder: device d is held while the job keeps an exclusive
flock on <pool_dir>/device-<d>.lock. The kernel drops the lock when the holder exits, so a crashed
or killed job never leaks a device. A job needing n devices takes n at once or none (no partial
holds, so no deadlock between a training block and evaluations).
Runs on the host and in the container: Python 3.7, no TensorFlow, POSIX (fcntl).
"""

import contextlib
import logging
import os
import re
import subprocess
import time

from resnext import atomic

log = logging.getLogger(__name__)

POLL_S = 0.5


class PoolTimeout(RuntimeError):
    """No set of free devices appeared within the timeout."""


# ids are a host's device indexes (8 or 16 on Ascend hosts): the bound keeps "0-10**9" small
MAX_DEVICE_ID = 63
_ID_PART = re.compile(r"([0-9]+)(?:-([0-9]+))?")


def parse_ids(text):
    """'0-3,6' or '0,1,2' -> [0, 1, 2, 3, 6] (ascending, unique); ValueError saying what is wrong
    (not an id or a range, an empty range, an id over MAX_DEVICE_ID, no id at all)."""
    ids = set()
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        match = _ID_PART.fullmatch(part)
        if match is None:
            raise ValueError("%r is not a device id or a range like 0-7" % part)
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise ValueError("range %r is empty (%d > %d)" % (part, lo, hi))
        if hi > MAX_DEVICE_ID:
            raise ValueError("device id %d is over %d" % (hi, MAX_DEVICE_ID))
        ids.update(range(lo, hi + 1))
    if not ids:
        raise ValueError("no device id in it: expected ids like '0-7' or '0,2,3'")
    return sorted(ids)


def _try_lock(pool_dir, device):
    """-> the open descriptor holding device's lock (its content: our pid), or None if another
    process holds it (atomic.lock_in_place: never through a link, a dead holder's lock is free)."""
    path = os.path.join(pool_dir, "device-%d.lock" % device)
    return atomic.lock_in_place(path, "%d\n" % os.getpid())


def _take(pool_dir, device_ids, count):
    """One pass over the pool: -> [(device, descriptor)] of `count` locked devices, or []
    (nothing held)."""
    held = []
    for device in device_ids:
        fd = _try_lock(pool_dir, device)
        if fd is not None:
            held.append((device, fd))
            if len(held) == count:
                return held
    _let_go(held)
    return []


def _let_go(held):
    """Close every descriptor of [(device, descriptor)]: the kernel drops their locks (the files
    stay: another job may have one open, waiting to lock it)."""
    for _, fd in held:
        atomic.unlock(fd)


@contextlib.contextmanager
def _holding(pool_dir, device_ids, count, timeout_s, poll_s):
    """Like acquire, but yields [(device, open lock descriptor)]."""
    device_ids = sorted(set(device_ids))
    if not 1 <= count <= len(device_ids):
        raise ValueError("cannot take %d device(s) from a pool of %s" % (count, device_ids))
    os.makedirs(pool_dir, exist_ok=True)
    deadline = None if timeout_s is None else time.time() + timeout_s
    held = _take(pool_dir, device_ids, count)
    while not held:
        if deadline is not None and time.time() >= deadline:
            raise PoolTimeout(
                "no %d free device(s) among %s in %s after %.0f s"
                % (count, device_ids, pool_dir, timeout_s)
            )
        time.sleep(poll_s)
        held = _take(pool_dir, device_ids, count)
    log.info("holding device(s) %s from %s", [d for d, _ in held], pool_dir)
    try:
        yield held
    finally:
        _let_go(held)


@contextlib.contextmanager
def acquire(pool_dir, device_ids, count=1, timeout_s=None, poll_s=POLL_S):
    """Hold `count` free devices of `device_ids` for the with-block; yields their ids (ascending).

    Waits (polling every poll_s) while fewer are free; PoolTimeout after timeout_s (None = forever).
    """
    with _holding(pool_dir, device_ids, count, timeout_s, poll_s) as held:
        yield [d for d, _ in held]


def device_env(ids, base=None):
    """Env for a job on devices `ids`: one device -> ASCEND_DEVICE_ID/DEVICE_ID set and the
    collective variables removed (RANK_TABLE_FILE with RANK_SIZE > 0 would switch HCCL on);
    several -> RESNEXT_DEVICES."""
    env = dict(os.environ if base is None else base)
    env["RESNEXT_DEVICES"] = ",".join(str(d) for d in ids)
    if len(ids) == 1:
        env["ASCEND_DEVICE_ID"] = env["DEVICE_ID"] = str(ids[0])
        env["RANK_ID"], env["RANK_SIZE"] = "0", "1"
        env.pop("RANK_TABLE_FILE", None)
    return env


def held_devices(environ=None):
    """The device ids `device_env` gave this job (RESNEXT_DEVICES), [] when it gave none."""
    text = (os.environ if environ is None else environ).get("RESNEXT_DEVICES", "")
    return [int(d) for d in text.split(",") if d.strip().isdigit()]


def run_with_devices(pool_dir, device_ids, argv, count=1, timeout_s=None):
    """Run argv while holding `count` devices from the pool, with device_env(ids);
    -> its exit code."""
    with _holding(pool_dir, device_ids, count, timeout_s, POLL_S) as held:
        # the child inherits the locked descriptors: the devices stay held while it runs, even if
        # this wrapper is killed first
        fds = [fd for _, fd in held]
        return subprocess.call(list(argv), env=device_env([d for d, _ in held]), pass_fds=fds)
