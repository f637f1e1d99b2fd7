"""Faults around the launcher (`resnext train`): SIGKILL of the launcher alone (as when the
Snakemake that ran it is killed and its job's process group is not), and a second launcher of the
same run (a rerun while the first still trains). Neither may leave two trainers writing one run."""

import json
import os
import subprocess
import sys
import time

import pytest

from resnext import checkpoints
from resnext.config import load_config
from resnext.train import launch

import rel_support as S

SLOW = pytest.mark.slow  # about 25 s each; kept out of `make test` for its time budget

LONG_BLOCK = {
    "max_train_steps": 200,
    "checkpoint_every_steps": 200,
}  # long enough to act while it trains


def _rank_pids(proc):
    return [p.pid for p in S.process_tree(proc.pid)[1:] if "train-rank" in " ".join(p.cmdline())]


@SLOW
def test_ranks_die_with_their_launcher(tmp_path, digits_data):
    cfg = S.tiny_config(digits_data, tmp_path / "results", "orphans", **LONG_BLOCK)
    path = S.write_config(cfg, tmp_path / "orphans.yaml")
    proc = S.start_cli(["train", "--config", path, "--until-step", 200], tmp_path / "train.log")
    S.wait_for(lambda: 2 in S.metrics_steps(cfg.train_dir), what="step 2")
    ranks = _rank_pids(proc)
    assert ranks
    S.kill_all(S.process_tree(proc.pid)[:1])  # the launcher only
    proc.wait(timeout=30)
    deadline = time.time() + 15
    while S.alive(ranks) and time.time() < deadline:
        time.sleep(0.2)
    orphans = S.alive(ranks)
    for pid in orphans:  # clean up before failing
        S.kill_all([S.psutil.Process(pid)])
    assert orphans == [], "rank process(es) %s kept training after their launcher died" % orphans
    assert checkpoints.complete_steps(cfg.train_dir) == []


@SLOW
def test_a_second_trainer_of_the_same_run_is_refused(tmp_path, digits_data):
    """The first trainer's rank is paused (SIGSTOP) after step 2, so it is certainly still training
    when the second launcher starts; it resumes (SIGCONT) after the second one has exited."""
    import signal

    cfg = S.tiny_config(digits_data, tmp_path / "results", "twice", **LONG_BLOCK)
    path = S.write_config(cfg, tmp_path / "twice.yaml")
    first = S.start_cli(["train", "--config", path, "--until-step", 200], tmp_path / "first.log")
    ranks = []
    try:
        S.wait_for(lambda: 2 in S.metrics_steps(cfg.train_dir), what="step 2 of the first trainer")
        ranks = _rank_pids(first)
        for pid in ranks:
            os.kill(pid, signal.SIGSTOP)
        second = S.run_cli("train", "--config", path, "--until-step", 200, check=False)
        for pid in ranks:
            os.kill(pid, signal.SIGCONT)
        assert first.wait(timeout=S.STAGE_TIMEOUT_S) == 0
    finally:
        if first.poll() is None:
            for pid in S.alive(ranks):
                os.kill(pid, signal.SIGCONT)
            S.kill_tree(first)
    assert second.returncode != 0 and "is training this run" in second.stdout, second.stdout[-2000:]
    steps = S.metrics_steps(cfg.train_dir)
    assert steps == list(range(2, 201, 2)), "metrics.jsonl written by two trainers: %s" % steps
    assert checkpoints.complete_steps(cfg.train_dir) == [200]


HOLD_LOCK = """import sys, time
from resnext.config import load_config
from resnext.train import launch
cfg = load_config([], values={"results_dir": sys.argv[1], "run_name": "locked"})
with launch.run_lock(cfg, 8):
    print("held", flush=True)
    time.sleep(120)
"""


def test_the_run_lock_refuses_while_held_and_dies_with_its_holder(tmp_path):
    """The lock another launcher holds is refused naming it; once that launcher is SIGKILLed (no
    cleanup runs), the lock file is still there but no longer held, so a rerun proceeds."""
    cfg = load_config([], values={"results_dir": str(tmp_path), "run_name": "locked"})
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE, env=S.env()
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(
            launch.RunLocked,
            match=r"pid %d \(block ending at step 8\) is training this run.*"
            r"wait for it to finish or stop it" % holder.pid,
        ):
            with launch.run_lock(cfg, 8):
                pass
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with launch.run_lock(cfg, 12) as path:
        with open(path) as f:
            assert json.load(f) == {"pid": os.getpid(), "until_step": 12}
