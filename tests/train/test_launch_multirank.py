"""Data parallelism across rank processes through TensorFlow's collectives, and the launcher."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from resnext.config import load_config
from resnext.train import launch

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rank_step_worker.py")


def _run_ranks(tmp_path, ranks, global_batch):
    out = tmp_path / ("ranks%d" % ranks)
    out.mkdir()
    cfg = load_config([], ["rank_size=%d" % ranks, "rank_timeout_s=120"])
    launch.supervise(cfg, [sys.executable, WORKER, str(out), str(global_batch)], str(out / "logs"))
    return out


def test_two_ranks_at_batch_b_update_like_one_rank_at_2b(tmp_path):
    one = _run_ranks(tmp_path, 1, 8)
    two = _run_ranks(tmp_path, 2, 8)
    single = np.load(one / "rank-0.npz")
    r0, r1, init = (
        np.load(two / "rank-0.npz"),
        np.load(two / "rank-1.npz"),
        np.load(two / "init.npz"),
    )
    assert set(single.files) == set(r0.files) and len(single.files) > 10
    moved = 0
    for name in single.files:
        np.testing.assert_array_equal(r0[name], r1[name])  # ranks stay identical
        np.testing.assert_allclose(r0[name], single[name], rtol=1e-4, atol=2e-6, err_msg=name)
        moved += not np.allclose(init[name], r0[name])
    assert moved > 10  # the step really changed the weights


def _cfg(tmp_path, **extra):
    values = dict(rank_size=3, rank_timeout_s=20.0)
    values.update(extra)
    return load_config([], values=values)


def test_a_failing_rank_stops_all_and_is_named(tmp_path):
    script = (
        "import os,sys,time\nr=int(os.environ['RANK_ID'])\nprint('rank',r,'up',flush=True)\n"
        "time.sleep(0.5)\nsys.exit(3) if r==1 else time.sleep(60)\n"
    )
    t0 = time.time()
    with pytest.raises(launch.RankFailed, match=r"rank 1 exited with code 3[\s\S]*rank 1 up"):
        launch.supervise(_cfg(tmp_path), [sys.executable, "-c", script], str(tmp_path / "logs"))
    assert time.time() - t0 < 30


def test_a_hung_rank_is_stopped_after_the_timeout(tmp_path):
    script = "import time\nprint('start',flush=True)\ntime.sleep(60)\n"
    t0 = time.time()
    with pytest.raises(launch.RankFailed, match="wrote nothing"):
        launch.supervise(
            _cfg(tmp_path, rank_size=2, rank_timeout_s=2.0),
            [sys.executable, "-c", script],
            str(tmp_path / "logs"),
        )
    assert time.time() - t0 < 20


def test_ranks_get_their_env_and_logs(tmp_path):
    script = (
        "import os\n"
        "print('R', os.environ['RANK_ID'], os.environ['RANK_SIZE'], os.environ['DEVICE_ID'])\n"
    )
    launch.supervise(_cfg(tmp_path), [sys.executable, "-c", script], str(tmp_path / "logs"))
    for r in range(3):
        assert "R %d 3 %d" % (r, r) in (tmp_path / "logs" / ("rank-%d.log" % r)).read_text()


def test_sigterm_to_the_launcher_stops_every_rank(tmp_path):
    code = (
        "import sys; from resnext.config import load_config; from resnext.train import launch\n"
        "cfg = load_config([], ['rank_size=2'])\n"
        "launch.supervise(cfg, [sys.executable, '-c', "
        "'import os,time; print(os.getpid(), flush=True); time.sleep(120)'], sys.argv[1])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "logs")])
    logs = [tmp_path / "logs" / ("rank-%d.log" % r) for r in range(2)]
    deadline = time.time() + 30
    while time.time() < deadline and not all(p.exists() and p.read_text().strip() for p in logs):
        time.sleep(0.2)
    pids = [int(p.read_text().split()[0]) for p in logs]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
