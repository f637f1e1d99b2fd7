"""Faults around the launcher (`resnext train`): SIGKILL of the launcher alone (as when the Snakemake
that ran it is killed and its job's process group is not), and a second launcher of the same run
(a rerun while the first still trains). Neither may leave two trainers writing one run."""
import os
import time

import pytest

from resnext import checkpoints

import rel_support as S

pytestmark = pytest.mark.slow  # about 25 s each; kept out of `make test` for its time budget

LONG_BLOCK = {"max_train_steps": 200, "checkpoint_every_steps": 200}  # long enough to act while it trains


def _rank_pids(proc):
    return [p.pid for p in S.process_tree(proc.pid)[1:] if "train-rank" in " ".join(p.cmdline())]


@pytest.mark.xfail(strict=True, reason="needs patch 5 from the report (ranks get PR_SET_PDEATHSIG: they die "
                                       "with their launcher)")
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


@pytest.mark.xfail(strict=True, reason="needs patch 6 from the report (one launcher per run: a lock on "
                                       "train/.lock)")
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
