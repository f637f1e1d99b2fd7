"""The ranks of one block as one SLURM step (launcher slurm): a single `srun`, a task per rank.

srun places the tasks (--distribution=block), reserves their ports (--resv-ports), writes each
task's output to train/logs/rank-<t>.log (--output with %t, appended like the local launcher's
logs) and cancels the whole step on every node when one task fails (--kill-on-bad-exit=1). Its own
messages (which task failed, and how) go to train/logs/srun.log. Each rank derives its placement
from the step's environment (resnext.train.rankenv.slurm_placement); nothing per rank is set here.
The object has the interface launch.supervise watches (logs, failed, running, finished, stop).
Python 3.7.
"""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time

from resnext import atomic, paths, ranktable
from resnext.train import launch, rankenv

log = logging.getLogger(__name__)

# srun's report of a failed task: "srun: error: node2: task 3: Killed", "... tasks 0-1: Exited ..."
_TASK_LINE = re.compile(r"error: (\S+): tasks? (\d+)(?:[-,]\S*)?: (.+)$")
_CANCELLED = ("Terminated", "Killed by the step")


def srun_pattern(log_dir):
    """srun's --output pattern for train/logs/rank-<task>.log: %t is the task (= rank); a % in the
    folder's own name is doubled so srun keeps it."""
    return paths.rank_log(os.path.abspath(log_dir).replace("%", "%%"), "%t")


def srun_argv(cfg, argv, log_dir=None, name="resnext-train"):
    """srun command line that starts argv once per rank in one step; with log_dir each task's
    output goes to its rank log, else to srun's stdout."""
    out = [
        "srun",
        "--ntasks=%d" % cfg.rank_size,
        "--distribution=block",
        "--kill-on-bad-exit=1",
        "--job-name=" + name,
    ]
    if log_dir is not None:
        pattern = srun_pattern(log_dir)
        out += ["--output=" + pattern, "--error=" + pattern, "--open-mode=append"]
    if cfg.rank_size > 1:  # each node's k-th rank listens on the k-th reserved port
        out.append("--resv-ports=%d" % cfg.rank_size)
    if cfg.threads_per_rank:
        out.append("--cpus-per-task=%d" % cfg.threads_per_rank)
    return out + ["--"] + list(argv)


def npu_table(cfg, config_path):
    """Path of the HCCL rank table of this job: rank_table_file (or RANK_TABLE_FILE) when given,
    else built now from one srun step of the training step's shape, in which each task reports its
    node's IP and its device's NIC IP (`resnext ranktable --slurm-entry`); written to
    train/rank_table.json."""
    if cfg.rank_table_file or os.environ.get("RANK_TABLE_FILE"):
        return ranktable.prepare(cfg, paths.rank_table(cfg.train_dir))
    entry = [
        sys.executable,
        "-m",
        "resnext.cli",
        "ranktable",
        "--config",
        config_path,
        "--slurm-entry",
    ]
    env = dict(
        os.environ, **({"SLURM_CONF": os.path.abspath(cfg.slurm_conf)} if cfg.slurm_conf else {})
    )
    out = subprocess.run(
        srun_argv(cfg, entry, name="resnext-ranktable"),
        capture_output=True,
        timeout=cfg.rank_timeout_s,
        env=env,
    )
    said = out.stderr.decode("utf-8", "replace").strip().splitlines()
    if out.returncode != 0:
        raise launch.RankFailed(
            "the rank table step (srun ... resnext ranktable --slurm-entry) "
            "exited with code %d: %s" % (out.returncode, said[-1] if said else "no message")
        )
    lines = out.stdout.decode("utf-8", "replace").splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    path = paths.rank_table(cfg.train_dir)
    ranktable.write_table(path, rankenv.slurm_table(cfg, entries))
    log.info("rank table of the SLURM step's nodes for %d device(s) -> %s", cfg.rank_size, path)
    return os.path.abspath(path)


def job_env(cfg, argv):
    """The job-wide variables every task of the training step gets (a rank adds its own):
    SLURM_CONF from slurm_conf, RANK_TABLE_FILE for a multi-rank NPU job."""
    env = {"PYTHONUNBUFFERED": "1"}
    if cfg.slurm_conf:  # snakemake's jobstep plugin drops SLURM_CONF from a job's env
        env["SLURM_CONF"] = os.path.abspath(cfg.slurm_conf)
    if cfg.backend == "npu" and cfg.rank_size > 1:
        env["RANK_TABLE_FILE"] = npu_table(cfg, argv[argv.index("--config") + 1])
    return env


def failed_task(text):
    """-> (task int, node, srun's reason) of the first task srun reports failed on its own (not
    one it cancelled because another failed), else the first one reported, else None."""
    found = []
    for line in text.splitlines():
        match = _TASK_LINE.search(line.strip())
        if match:
            found.append((int(match.group(2)), match.group(1), match.group(3).strip()))
    first_cause = [f for f in found if not f[2].startswith(_CANCELLED)]
    return (first_cause or found or [None])[0]


class SlurmStep:
    """One running srun step of cfg.rank_size tasks."""

    def __init__(self, cfg, argv, log_dir):
        self.cfg = cfg
        rankenv.check_allocation(cfg)
        self.logs, files = launch.open_rank_logs(cfg, log_dir)  # refuses planted links, as locally
        for f in files:
            f.close()  # srun appends to them (--open-mode=append)
        self.srun_log = paths.srun_log(log_dir)
        self.file = os.fdopen(atomic.open_in_place(self.srun_log, launch.LOG_FLAGS), "ab")
        env = dict(os.environ, **job_env(cfg, argv))  # each rank adds its own (rankenv.join)
        self.proc = subprocess.Popen(
            srun_argv(cfg, argv, log_dir),
            env=env,
            stdout=self.file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=launch.die_with_launcher(signal.SIGTERM),
        )

    def failed(self):
        """-> RankFailed naming the rank srun reports failed (or srun itself), or None."""
        code = self.proc.poll()
        if code in (None, 0):
            return None
        self.file.flush()
        task = failed_task(launch.log_tail(self.srun_log, 200))
        if task is None:
            return launch.RankFailed(
                "the srun step exited with code %s; last lines of %s:\n%s"
                % (code, self.srun_log, launch.log_tail(self.srun_log))
            )
        rank, node, reason = task
        path = self.logs[rank] if rank < len(self.logs) else self.srun_log
        return launch.RankFailed(
            "rank %d (on %s) failed: srun: %s; the step was stopped on every "
            "node; last lines of %s:\n%s" % (rank, node, reason, path, launch.log_tail(path))
        )

    def running(self, rank):
        return self.proc.poll() is None

    def finished(self):
        return self.proc.poll() == 0

    def close_logs(self):
        self.file.close()

    def stop(self, sig=signal.SIGTERM, grace_s=10.0):
        """SIGTERM to srun cancels the step on every node; SIGKILL after grace_s."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        deadline = time.time() + grace_s
        while self.proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.close_logs()
