"""Start every rank of a block, supervise them, stop them all if one fails or hangs.

Each rank runs `resnext train-rank` with the environment resnext.train.rankenv builds (RANK_ID,
RANK_SIZE, DEVICE_ID, the ClusterSpec for CPU/GPU collectives, the rank table for NPU). Who starts
them is `launcher`: local = one process per rank here; slurm = one srun step (train/slurmstep.py),
each rank deriving its env from the step. Either way its stdout/stderr go to
train/logs/rank-<r>.log, rank 0's log lines are echoed to the console, a rank that logs nothing
for rank_timeout_s is a hang, and one failed rank stops all. Ranks die with the launcher
(PR_SET_PDEATHSIG on Linux), and one launcher at a time trains a run (flock on train/.lock).
Python 3.7.
"""

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time

from resnext import atomic, checkpoints, paths
from resnext.config import write_resolved
from resnext.train import preflight, rankenv, recipe, records

log = logging.getLogger(__name__)

POLL_S = 0.5
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT  # rank logs grow across a block's reruns


class RankFailed(RuntimeError):
    """A rank exited non-zero or hung; the message names it and shows its log tail."""


class RunLocked(RuntimeError):
    """Another launcher holds this run's train/.lock; the message names its pid and block."""


def die_with_launcher(sig=signal.SIGKILL):
    """preexec_fn arming `sig` for the rank when the launcher dies (even by SIGKILL, when nothing
    in the launcher runs), so no orphan trains on; None off Linux or without prctl. srun gets
    SIGTERM instead: it then cancels its step on every node.

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
        prctl(PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != launcher:  # the launcher died before the signal was armed
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


def log_tail(path, lines=20):
    """The end of a rank's log for an error message; "(no log)" when there is none."""
    text = atomic.read_tail(path, lines, 8192)
    return "(no log)" if text is None else text


class _Ranks:
    """The running rank processes and their log files."""

    def __init__(self, cfg, argv, log_dir, device):
        self.cfg = cfg
        self.procs = []
        self.logs, self.files = open_rank_logs(cfg, log_dir)
        arm = die_with_launcher()
        for placement, f in zip(rankenv.local_placements(cfg), self.files):
            env = rankenv.rank_env(placement, device)
            proc = subprocess.Popen(
                argv,
                env=env,
                stdout=f,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=arm,
            )
            self.procs.append(proc)

    def failed(self):
        """-> RankFailed for the first rank that exited non-zero, or None."""
        for rank, (proc, path) in enumerate(zip(self.procs, self.logs)):
            code = proc.poll()
            if code not in (None, 0):
                return RankFailed(
                    "rank %d exited with code %s; last lines of %s:\n%s"
                    % (rank, code, path, log_tail(path))
                )
        return None

    def running(self, rank):
        return self.procs[rank].poll() is None

    def finished(self):
        return all(p.poll() == 0 for p in self.procs)

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


class _Echo:
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
    failed = ranks.failed()
    if failed is not None:
        raise failed
    for rank, path in enumerate(ranks.logs):
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        if size != last_growth[rank][0]:
            last_growth[rank] = (size, now)
        elif ranks.running(rank) and now - last_growth[rank][1] > timeout_s:
            raise RankFailed(
                "rank %d wrote nothing to %s for %.0f s (rank_timeout_s); last lines:\n%s"
                % (rank, path, timeout_s, log_tail(path))
            )
    return 0 if ranks.finished() else None


def open_rank_logs(cfg, log_dir):
    """-> ([train/logs/rank-<r>.log], [their files open for append]). Every log is opened before
    any rank starts: a refused one (a planted link) starts none."""
    os.makedirs(log_dir, exist_ok=True)
    logs, files = [paths.rank_log(log_dir, rank) for rank in range(cfg.rank_size)], []
    try:
        for path in logs:
            files.append(os.fdopen(atomic.open_in_place(path, LOG_FLAGS), "ab"))
    except BaseException:
        for f in files:
            f.close()
        raise
    return logs, files


def start_ranks(cfg, argv, log_dir, device):
    """The ranks of one block, started by cfg.launcher: a process each (local), or one srun step."""
    if cfg.launcher == "slurm":  # each rank derives its env from the step (rankenv.join)
        from resnext.train import slurmstep

        return slurmstep.SlurmStep(cfg, argv, log_dir)
    return _Ranks(cfg, argv, log_dir, device if device is not None else rankenv.device_env(cfg))


def supervise(cfg, argv, log_dir, device=None, console=None):
    """Run argv once per rank; return when all exit 0. Raises RankFailed (all ranks stopped) on
    a non-zero exit or a hang, KeyboardInterrupt on Ctrl-C/SIGTERM (all ranks stopped).
    device: function(Placement) -> a rank's device variables; default rankenv.device_env(cfg)."""
    ranks = start_ranks(cfg, argv, log_dir, device)
    echo = _Echo(ranks.logs[0], console or sys.stderr)
    growth = [(0, time.time()) for _ in ranks.logs]
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


def _holder(path):
    """'pid N (block ending at step S)' from a lock file, as far as it was written."""
    info = atomic.lock_note(path)
    if "pid" not in info or "until_step" not in info:
        return "another launcher"
    return "pid %s (block ending at step %s)" % (info["pid"], info["until_step"])


@contextlib.contextmanager
def run_lock(cfg, until_step):
    """Hold <run>/train/.lock for the launcher's life; RunLocked if another launcher holds it
    (atomic.lock_in_place: never through a planted link; a dead holder's lock is free)."""
    os.makedirs(cfg.train_dir, exist_ok=True)
    path = paths.train_lock(cfg.train_dir)
    fd = atomic.lock_in_place(path, {"pid": os.getpid(), "until_step": until_step})
    if fd is None:
        raise RunLocked(
            "%s is training this run (it holds %s); wait for it to finish or stop it"
            % (_holder(path), path)
        )
    try:
        yield path
    finally:
        os.close(fd)


def train(cfg, config_path, until_step, device=None):
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
        atomic.append_line(
            paths.data_checks(cfg.train_dir),
            atomic.json_text(dict(verified, until_step=until_step, verified_utc=records.utc_now())),
        )
        covered = _covered(cfg, until_step)
        if covered:
            log.info(
                "checkpoint at step %d already covers the block ending at step %d: no rank started",
                covered,
                until_step,
            )
            records.ensure_block_record(cfg, cfg.block_steps.index(until_step) + 1, until_step)
        else:
            _launch(cfg, config_path, until_step, device)
        _mark_done(cfg, until_step, started=not covered)


def _covered(cfg, until_step):
    """The newest complete checkpoint's step if it reaches the block boundary until_step (the
    block is trained: a rerun starts no rank), else None."""
    latest = checkpoints.latest_step(cfg.train_dir) or 0
    return latest if latest >= until_step and until_step in cfg.block_steps else None


def _launch(cfg, config_path, until_step, device):
    if config_path is None:
        config_path = paths.ranks_config(cfg.train_dir)
        write_resolved(cfg, config_path)
    argv = [
        sys.executable,
        "-m",
        "resnext.cli",
        "train-rank",
        "--config",
        config_path,
        "--until-step",
        str(until_step),
    ]
    log_dir = paths.train_logs(cfg.train_dir)
    log.info(
        "launching %d rank(s) on backend %s, block ending at step %d; logs in %s",
        cfg.rank_size,
        cfg.backend,
        until_step,
        log_dir,
    )
    supervise(cfg, argv, log_dir, device)


def _mark_done(cfg, until_step, started):
    """Write train/done/step-<until_step>.json (paths.block_done) once a complete checkpoint at or
    past until_step exists; RankFailed when the ranks exited 0 without saving one."""
    latest = checkpoints.latest_step(cfg.train_dir) or 0
    if latest < until_step:
        raise RankFailed(
            "every rank exited 0 but %s holds no complete checkpoint at step %d or "
            "later (newest: %s); see %s"
            % (
                paths.ckpt_dir(cfg.train_dir),
                until_step,
                latest or "none",
                paths.train_logs(cfg.train_dir),
            )
        )
    atomic.write_json(
        paths.block_done(cfg.train_dir, until_step),
        {
            "until_step": until_step,
            "checkpoint_step": latest,
            "ranks_started": started,
            "recipe_sha256": cfg.sha256("training"),
            "done_utc": records.utc_now(),
        },
    )
