"""Start one process per rank, supervise them, stop them all if one fails or hangs.

Each rank runs `resnext train-rank` with RANK_ID, RANK_SIZE, DEVICE_ID (and the backend's extra
env: a TF ClusterSpec for CPU/GPU collectives, the rank table for NPU). Its stdout/stderr go to
train/logs/rank-<r>.log; rank 0's log lines are echoed to the console. Python 3.7.
"""
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

log = logging.getLogger(__name__)

POLL_S = 0.5


class RankFailed(RuntimeError):
    """A rank exited non-zero or hung; the message names it and shows its log tail."""


def free_ports(n):
    """n distinct free localhost TCP ports (bound then released)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def cluster_hosts(cfg):
    """host:port of every rank: cfg.hosts for multi-node, else free localhost ports."""
    if cfg.hosts:
        return list(cfg.hosts)
    return ["127.0.0.1:%d" % p for p in free_ports(cfg.rank_size)]


def rank_env(cfg, rank, hosts, extra=None):
    """Environment of rank `rank` (seed names: RANK_ID, RANK_SIZE, DEVICE_ID)."""
    env = dict(os.environ)
    env.update({"RANK_ID": str(rank), "RANK_SIZE": str(cfg.rank_size), "DEVICE_ID": str(rank),
                "RESNEXT_CLUSTER": json.dumps(hosts), "PYTHONUNBUFFERED": "1"})
    if cfg.backend == "gpu":
        env["CUDA_VISIBLE_DEVICES"] = str(rank)
    env.update(extra or {})
    return env


def log_tail(path, lines=20):
    if not os.path.isfile(path):
        return "(no log)"
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 8192))
        text = f.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


class _Ranks(object):
    """The running rank processes and their log files."""

    def __init__(self, cfg, argv, log_dir, env_extra):
        self.cfg = cfg
        self.procs, self.logs, self.files = [], [], []
        hosts = cluster_hosts(cfg)
        os.makedirs(log_dir, exist_ok=True)
        for rank in range(cfg.rank_size):
            path = os.path.join(log_dir, "rank-%d.log" % rank)
            f = open(path, "ab")
            env = rank_env(cfg, rank, hosts, env_extra(rank) if env_extra else None)
            proc = subprocess.Popen(argv, env=env, stdout=f, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            self.procs.append(proc)
            self.logs.append(path)
            self.files.append(f)

    def stop(self, sig=signal.SIGTERM, grace_s=10.0):
        for proc in self.procs:
            if proc.poll() is None:
                _signal_group(proc, sig)
        deadline = time.time() + grace_s
        for proc in self.procs:
            while proc.poll() is None and time.time() < deadline:
                time.sleep(0.1)
            if proc.poll() is None:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        for f in self.files:
            f.close()


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _Echo(object):
    """Copies new lines of rank 0's log to the console."""

    def __init__(self, path, stream):
        self.path, self.stream, self.offset = path, stream, 0

    def pump(self):
        if not os.path.isfile(self.path):
            return
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        cut = data.rfind(b"\n") + 1
        if cut:
            self.offset += cut
            for line in data[:cut].decode("utf-8", "replace").splitlines():
                if " resnext." in line or line.startswith("step:"):
                    self.stream.write(line + "\n")
            self.stream.flush()


def _check(ranks, timeout_s, last_growth):
    """Return None while all run, 0 when all finished, else raise RankFailed."""
    now = time.time()
    for rank, (proc, path) in enumerate(zip(ranks.procs, ranks.logs)):
        code = proc.poll()
        if code not in (None, 0):
            raise RankFailed("rank %d exited with code %s; last lines of %s:\n%s"
                             % (rank, code, path, log_tail(path)))
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        if size != last_growth[rank][0]:
            last_growth[rank] = (size, now)
        elif code is None and now - last_growth[rank][1] > timeout_s:
            raise RankFailed("rank %d wrote nothing to %s for %.0f s (rank_timeout_s); last lines:\n%s"
                             % (rank, path, timeout_s, log_tail(path)))
    return 0 if all(p.poll() == 0 for p in ranks.procs) else None


def supervise(cfg, argv, log_dir, env_extra=None, console=None):
    """Run argv once per rank; return when all exit 0. Raises RankFailed (all ranks stopped) on
    a non-zero exit or a hang, KeyboardInterrupt on Ctrl-C/SIGTERM (all ranks stopped)."""
    ranks = _Ranks(cfg, argv, log_dir, env_extra)
    echo = _Echo(ranks.logs[0], console or sys.stderr)
    growth = [(0, time.time()) for _ in ranks.procs]
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while _check(ranks, cfg.rank_timeout_s, growth) is None:
            echo.pump()
            time.sleep(POLL_S)
        echo.pump()
    except BaseException:
        echo.pump()
        ranks.stop()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        for f in ranks.files:
            f.close()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def backend_env(cfg):
    """The backend's per-rank env as a function of the rank, or None. NPU: the rank table entry plus
    RANK_TABLE_FILE/JOB_ID/... (backends/npu.py launcher_env; writes the table, imports no npu_bridge)."""
    if cfg.backend != "npu":
        return None
    from resnext.backends.npu import launcher_env
    return launcher_env(cfg)


def train(cfg, config_path, until_step, env_extra=None):
    """Launch every rank of one training block (`resnext train`)."""
    argv = [sys.executable, "-m", "resnext.cli", "train-rank", "--config", config_path,
            "--until-step", str(until_step)]
    log_dir = os.path.join(cfg.train_dir, "logs")
    log.info("launching %d rank(s) on backend %s, block ending at step %d; logs in %s",
             cfg.rank_size, cfg.backend, until_step, log_dir)
    supervise(cfg, argv, log_dir, env_extra if env_extra is not None else backend_env(cfg))
