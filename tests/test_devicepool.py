"""Device pool: exclusive, crash-safe device holds for concurrent NPU jobs."""

import json
import os
import subprocess
import sys
import time

import pytest

from resnext import atomic, devicepool

SRC = os.path.dirname(os.path.dirname(os.path.abspath(devicepool.__file__)))


def test_parse_ids():
    assert devicepool.parse_ids("0-3,6") == [0, 1, 2, 3, 6]
    assert devicepool.parse_ids("2, 1,1") == [1, 2]
    with pytest.raises(ValueError):
        devicepool.parse_ids("")


def test_concurrent_holders_get_different_devices(tmp_path):
    pool = str(tmp_path / "pool")
    with devicepool.acquire(pool, [0, 1], timeout_s=1) as first:
        with devicepool.acquire(pool, [0, 1], timeout_s=1) as second:
            assert first == [0] and second == [1]
            with pytest.raises(devicepool.PoolTimeout, match="no 1 free device"):
                with devicepool.acquire(pool, [0, 1], timeout_s=0.2, poll_s=0.05):
                    pass
    with devicepool.acquire(pool, [0, 1], timeout_s=1) as again:  # released on exit
        assert again == [0]


def test_all_or_nothing_for_several_devices(tmp_path):
    pool = str(tmp_path / "pool")
    with devicepool.acquire(pool, range(4), timeout_s=1):
        with pytest.raises(devicepool.PoolTimeout):
            with devicepool.acquire(pool, range(4), count=4, timeout_s=0.2, poll_s=0.05):
                pass
        # the failed attempt held nothing: three devices are still free
        with devicepool.acquire(pool, range(4), count=3, timeout_s=1) as three:
            assert three == [1, 2, 3]


def test_the_pool_and_atomic_lock_in_place_take_the_same_lock(tmp_path):
    """One flock helper: a device lock taken by atomic.lock_in_place is busy for the pool, and a
    device the pool holds cannot be taken by lock_in_place."""
    pool = tmp_path / "pool"
    pool.mkdir()
    fd = atomic.lock_in_place(str(pool / "device-0.lock"), {"pid": 1})
    try:
        with devicepool.acquire(str(pool), [0, 1], timeout_s=1) as ids:
            assert ids == [1]
            assert atomic.lock_in_place(str(pool / "device-1.lock"), {}) is None
            assert (pool / "device-1.lock").read_text() == "%d\n" % os.getpid()
    finally:
        atomic.unlock(fd)
    with devicepool.acquire(str(pool), [0, 1], timeout_s=1) as ids:
        assert ids == [0]


def test_a_killed_holder_frees_its_device(tmp_path):
    pool = str(tmp_path / "pool")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; sys.path.insert(0, %r)\n"
            "from resnext import devicepool\n"
            "with devicepool.acquire(%r, [0]):\n"
            "    print('held', flush=True); time.sleep(60)\n" % (SRC, pool),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(devicepool.PoolTimeout):
            with devicepool.acquire(pool, [0], timeout_s=0.2, poll_s=0.05):
                pass
    finally:
        holder.kill()
        holder.wait()
    with devicepool.acquire(pool, [0], timeout_s=2, poll_s=0.05) as ids:
        assert ids == [0]


def test_run_with_devices_gives_the_child_its_device(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK_TABLE_FILE", "/some/table.json")
    out = tmp_path / "env.json"
    code = (
        "import json, os; json.dump({k: os.environ.get(k) for k in "
        "('ASCEND_DEVICE_ID', 'DEVICE_ID', 'RANK_SIZE', 'RANK_TABLE_FILE')}, open(%r, 'w'))"
        % str(out)
    )
    pool = str(tmp_path / "pool")
    with devicepool.acquire(pool, [0, 1, 2]):
        started = time.time()
        assert (
            devicepool.run_with_devices(pool, [0, 1, 2], [sys.executable, "-c", code], timeout_s=5)
            == 0
        )
        assert time.time() - started < 5
    assert json.load(open(str(out))) == {
        "ASCEND_DEVICE_ID": "1",
        "DEVICE_ID": "1",
        "RANK_SIZE": "1",
        "RANK_TABLE_FILE": None,
    }
