"""Helpers for the reliability tests: run `resnext` stages and Snakemake as separate processes (from
this tree's src/), kill them with SIGKILL at chosen points, and compare what is left on disk.

Kill points are events, not wall-clock guesses: a file appearing in a folder (Linux inotify, through
ctypes) or a line appearing in a log. When the event fires, every process of the job (the launcher
and its rank processes, which run in their own sessions) gets SIGKILL at once.
"""

import ctypes
import glob
import hashlib
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import psutil
import yaml

from resnext.train import records
from support.paths import DEMO_CONFIG, TINY  # tests/ is on sys.path (tests/conftest.py)
from support.workflow import STAGE_TIMEOUT_S, env  # S.env, S.STAGE_TIMEOUT_S: the tests use both

# fields of an eval JSON that differ between two evaluations of the same checkpoint by design
EVAL_VOLATILE = ("evaluated_utc", "images_per_sec")


def write_config(cfg, path):
    """The resolved config as a YAML file the CLI reads (`--config path`)."""
    with open(str(path), "w") as f:
        yaml.safe_dump(cfg.to_dict(), f, sort_keys=True)
    return str(path)


def cli_argv(*args):
    return [sys.executable, "-m", "resnext.cli"] + [str(a) for a in args]


def run_cli(*args, check=True, timeout=STAGE_TIMEOUT_S, extra_env=None, cwd=None):
    """Run `resnext <args>` to completion; -> CompletedProcess (stdout+stderr in .stdout)."""
    proc = subprocess.run(
        cli_argv(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env(extra_env),
        timeout=timeout,
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            "resnext %s exited %d:\n%s"
            % (" ".join(map(str, args)), proc.returncode, proc.stdout[-4000:])
        )
    return proc


def start_cli(args, log_path, extra_env=None, cwd=None):
    """Start `resnext <args>` in the background, output to log_path; -> Popen."""
    log = open(str(log_path), "ab")
    try:
        return subprocess.Popen(
            cli_argv(*args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env(extra_env),
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        log.close()


# ---------------------------------------------------------------- processes


def process_tree(pid):
    """psutil.Process of pid and all its descendants (children first found, deepest last)."""
    try:
        root = psutil.Process(pid)
        return [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def kill_all(procs):
    """SIGKILL every process in `procs` (deepest first: the ranks that write),
    then wait for them."""
    for p in reversed(procs):
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=30)


def kill_tree(popen):
    """SIGKILL a job started by start_cli/start_snakemake and every process under it."""
    kill_all(process_tree(popen.pid))
    popen.wait(timeout=30)


def alive(pids):
    out = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


# ---------------------------------------------------------------- inotify

IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x80, 0x100
_EVENT = struct.Struct("iIII")


class DirWatch:
    """Names created in / renamed into / modified in one folder, as they happen (inotify)."""

    def __init__(self, folder, mask=IN_CREATE | IN_MOVED_TO):
        os.makedirs(str(folder), exist_ok=True)
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self.libc.inotify_add_watch(self.fd, os.fsencode(str(folder)), mask) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch %s" % folder)

    def events(self, timeout):
        """[(mask, name)] that arrive within `timeout` seconds (maybe empty)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        out, offset = [], 0
        while offset < len(data):
            _, mask, _, length = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0").decode()
            out.append((mask, name))
            offset += _EVENT.size + length
        return out

    def close(self):
        os.close(self.fd)


def kill_on_file(popen, folder, predicate, timeout=STAGE_TIMEOUT_S):
    """SIGKILL the job the instant a name satisfying predicate(name) appears in `folder`.

    The job's processes are listed ahead of time (refreshed every 50 ms) so the kill costs one
    syscall per process. -> the name that triggered the kill, or None if the job ended first.
    """
    watch = DirWatch(folder)
    try:
        procs, refreshed, deadline = process_tree(popen.pid), 0.0, time.time() + timeout
        while time.time() < deadline:
            for _, name in watch.events(0.05):
                if predicate(name):
                    kill_all(procs)  # the cached list first: no /proc scan between event and kill
                    kill_all(process_tree(popen.pid))  # anything started since the last refresh
                    popen.wait(timeout=30)
                    return name
            if popen.poll() is not None:
                return None
            if time.time() - refreshed > 0.05:
                procs, refreshed = process_tree(popen.pid) or procs, time.time()
        raise AssertionError(
            "no file matching the kill point appeared in %s within %ds" % (folder, timeout)
        )
    finally:
        watch.close()


def kill_when(popen, condition, timeout=STAGE_TIMEOUT_S, poll_s=0.02):
    """SIGKILL the job as soon as condition() is true; -> True, or False if the job ended first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if popen.poll() is not None:
            return False
        if condition():
            kill_tree(popen)
            return True
        time.sleep(poll_s)
    raise AssertionError("kill condition not reached within %ds" % timeout)


def kill_after(popen, seconds):
    """SIGKILL the job after `seconds` (a seeded point of its run); -> False if it ended first."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if popen.poll() is not None:
            return False
        time.sleep(0.02)
    kill_tree(popen)
    return True


# ---------------------------------------------------------------- files and results


def listing(folder):
    """Sorted relative paths of every file under folder (empty if it does not exist)."""
    folder = str(folder)
    out = []
    for base, _, files in os.walk(folder):
        for name in files:
            out.append(os.path.relpath(os.path.join(base, name), folder))
    return sorted(out)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(str(path), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_json(path):
    with open(str(path)) as f:
        return json.load(f)


def metrics_rows(train_dir):
    return records.read_jsonl(os.path.join(str(train_dir), "metrics.jsonl"))


def metrics_steps(train_dir):
    return [r["step"] for r in metrics_rows(train_dir)]


def training_curve(train_dir):
    """[(step, loss, total_loss, lr)] of metrics.jsonl: what two equal runs must share
    (no timings)."""
    return [(r["step"], r["loss"], r["total_loss"], r["lr"]) for r in metrics_rows(train_dir)]


def checkpoint_tensors(prefix):
    """{variable: numpy value} of a complete checkpoint."""
    from resnext.compat import tf

    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def tensor_differences(a, b):
    """{variable: max |a-b|} over variables that differ (missing ones count as inf)."""
    out = {}
    for name in set(a) | set(b):
        if name not in a or name not in b:
            out[name] = float("inf")
        elif not np.array_equal(a[name], b[name]):
            out[name] = float(
                np.max(np.abs(a[name].astype(np.float64) - b[name].astype(np.float64)))
            )
    return out


def eval_numbers(record):
    """The measured part of an eval JSON: what must be equal between equal checkpoints."""
    return {k: record[k] for k in ("step", "epoch", "top1", "top5", "loss", "num_images")}


def without(record, keys):
    return {k: v for k, v in record.items() if k not in keys}


def partial_checkpoint_files(train_dir, step):
    """Files of checkpoint `step` on disk (data, temp files) when its .index does not exist."""
    prefix = os.path.join(str(train_dir), "ckpt", "model.ckpt-%d" % step)
    return sorted(glob.glob(prefix + ".*"))


def wait_for(condition, timeout=STAGE_TIMEOUT_S, poll_s=0.1, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(poll_s)
    raise AssertionError("timed out after %ds waiting for %s" % (timeout, what))


# ---------------------------------------------------------------- configs


def tiny_config(data_dir, results_dir, run_name="tiny", **changes):
    """A Config of the tiny variant reading data_dir, writing under results_dir/run_name."""
    from resnext.config import load_config

    values = dict(TINY, data_url=str(data_dir), results_dir=str(results_dir), run_name=run_name)
    values.update(changes)
    return load_config([DEMO_CONFIG], values=values)
