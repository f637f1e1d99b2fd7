"""Start one process per rank, supervise them, stop them all if one fails or hangs.

Each rank runs `resnext train-rank` with RANK_ID, RANK_SIZE, DEVICE_ID (and the backend's extra
env: a TF ClusterSpec for CPU/GPU collectives, the rank table for NPU). Its stdout/stderr go to
train/logs/rank-<r>.log; rank 0's log lines are echoed to the console. Ranks die with the launcher
(PR_SET_PDEATHSIG on Linux), and one launcher at a time trains a run (flock on train/.lock).
Python 3.7.
"""
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

from resnext import atomic, checkpoints, paths
from resnext.config import write_resolved
from resnext.train import preflight, recipe, records

log = logging.getLogger(__name__)

POLL_S = 0.5
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT  # rank logs grow across a block's reruns


class RankFailed(RuntimeError):
    """A rank exited non-zero or hung; the message names it and shows its log tail."""


class RunLocked(RuntimeError):
    """Another launcher holds this run's train/.lock; the message names its pid and block."""


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
    if cfg.backend == "gpu":  # rank r takes the r-th GPU the launcher may use (preflight counted them)
        visible = preflight.visible_gpus()
        env["CUDA_VISIBLE_DEVICES"] = visible[rank] if visible and rank < len(visible) else str(rank)
    env.update(extra or {})
    return env


def _die_with_launcher():
    """preexec_fn arming SIGKILL for the rank when the launcher dies (even by SIGKILL, when nothing
    in the launcher runs), so no orphan trains on; None off Linux or without prctl.

    Linux sends it when the *thread* that started the child exits: supervise() runs in one thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    launcher = os.getpid()

    def arm():
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != launcher:  # the launcher died before the signal was armed
            os.kill(os.getpid(), signal.SIGKILL)
    return arm


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
        arm = _die_with_launcher()
        self.logs = [paths.rank_log(log_dir, rank) for rank in range(cfg.rank_size)]
        try:  # every log opened before any rank starts: a refused one (a planted link) starts none
            for path in self.logs:
                self.files.append(os.fdopen(atomic.open_in_place(path, LOG_FLAGS), "ab"))
        except BaseException:
            self.close_logs()
            raise
        for rank, f in enumerate(self.files):
            env = rank_env(cfg, rank, hosts, env_extra(rank) if env_extra else None)
            proc = subprocess.Popen(argv, env=env, stdout=f, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=arm)
            self.procs.append(proc)

    def close_logs(self):
        for f in self.files:
            f.close()

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
        self.close_logs()


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
        ranks.close_logs()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def backend_env(cfg):
    """The backend's per-rank env as a function of the rank, or None. NPU: the rank table entry plus
    RANK_TABLE_FILE/JOB_ID/... (backends/npu.py launcher_env; writes the table, imports no
    npu_bridge)."""
    if cfg.backend != "npu":
        return None
    from resnext.backends.npu import launcher_env
    return launcher_env(cfg)


def _holder(path):
    """'pid N (block ending at step S)' from a lock file, as far as it was written."""
    try:
        with open(path) as f:
            info = json.loads(f.read() or "{}")
        return "pid %s (block ending at step %s)" % (info["pid"], info["until_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return "another launcher"


@contextlib.contextmanager
def run_lock(cfg, until_step):
    """Hold <run>/train/.lock for the launcher's life; RunLocked if another launcher holds it.

    flock belongs to the open file, so the kernel releases it when the holder dies, however it dies:
    a stale lock file is never a held lock. The file is written in place, not renamed into place: a
    new inode would let a second launcher lock it while the first still trains.
    """
    os.makedirs(cfg.train_dir, exist_ok=True)
    path = paths.train_lock(cfg.train_dir)
    fd = atomic.open_in_place(path, os.O_RDWR | os.O_CREAT)  # never through a planted link
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked("%s is training this run (it holds %s); wait for it to finish or stop it"
                            % (_holder(path), path))
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "until_step": until_step}).encode("utf-8"))
        yield path
    finally:
        os.close(fd)


def train(cfg, config_path, until_step, env_extra=None):
    """Launch every rank of one training block (`resnext train`).

    Checks the data and the devices before anything is written, then takes the run's lock and
    checks the config against the run's training recipe (resnext.train.recipe: a changed training
    key is refused unless accept_changes names it; the recipe records what goes on). With
    config_path None the ranks get a resolved copy of cfg, train/config.ranks.yaml.
    """
    manifest, verified = preflight.check_launch(cfg)
    atomic.check_in_place(paths.metrics(cfg.train_dir))  # rank 0 appends to it: refused first
    with run_lock(cfg, until_step):
        recipe.begin_block(cfg, manifest, records.utc_now())  # a changed recipe: refused, no rank
        atomic.append_line(paths.data_checks(cfg.train_dir),
                           atomic.json_text(dict(verified, until_step=until_step,
                                                 verified_utc=records.utc_now())))
        covered = _covered(cfg, until_step)
        if covered:
            log.info("checkpoint at step %d already covers the block ending at step %d: no rank "
                     "started", covered, until_step)
            records.ensure_block_record(cfg, cfg.block_steps.index(until_step) + 1, until_step)
        else:
            _launch(cfg, config_path, until_step, env_extra)
        _mark_done(cfg, until_step, started=not covered)


def _covered(cfg, until_step):
    """The newest complete checkpoint's step if it reaches the block boundary until_step (the
    block is trained: a rerun starts no rank), else None."""
    latest = checkpoints.latest_step(cfg.train_dir) or 0
    return latest if latest >= until_step and until_step in cfg.block_steps else None


def _launch(cfg, config_path, until_step, env_extra):
    if config_path is None:
        config_path = paths.ranks_config(cfg.train_dir)
        write_resolved(cfg, config_path)
    argv = [sys.executable, "-m", "resnext.cli", "train-rank", "--config", config_path,
            "--until-step", str(until_step)]
    log_dir = paths.train_logs(cfg.train_dir)
    log.info("launching %d rank(s) on backend %s, block ending at step %d; logs in %s",
             cfg.rank_size, cfg.backend, until_step, log_dir)
    supervise(cfg, argv, log_dir, env_extra if env_extra is not None else backend_env(cfg))


def _mark_done(cfg, until_step, started):
    """Write train/done/step-<until_step>.json (paths.block_done) once a complete checkpoint at or
    past until_step exists; RankFailed when the ranks exited 0 without saving one."""
    latest = checkpoints.latest_step(cfg.train_dir) or 0
    if latest < until_step:
        raise RankFailed("every rank exited 0 but %s holds no complete checkpoint at step %d or "
                         "later (newest: %s); see %s" % (paths.ckpt_dir(cfg.train_dir), until_step,
                                                         latest or "none",
                                                         paths.train_logs(cfg.train_dir)))
    atomic.write_json(paths.block_done(cfg.train_dir, until_step),
                      {"until_step": until_step, "checkpoint_step": latest,
                       "ranks_started": started, "recipe_sha256": cfg.sha256("training"),
                       "done_utc": records.utc_now()})
