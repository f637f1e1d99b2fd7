"""The workflow under faults, on the tiny config (each `snakemake all` takes about 1.5 minutes on 2
cores, so all of these are slow):

- `snakemake all` killed with SIGKILL (Snakemake and every job under it) while block 2 trains, and
  again during the report; the documented recovery completes the run with the same steps and,
  given determinism, the same numbers as an uninterrupted run;
- `snakemake evaluate` in a second terminal while `snakemake all` trains a block;
- two runs with the same seed give the same eval JSON (reproducibility);
- checkpoints pruned during training (keep_checkpoint_max) are never planned again.
"""

import base64
import os
import re
import signal

import pytest

from resnext import checkpoints

import rel_support as S
from support.paths import TINY_WORKFLOW
from support.workflow import planned_jobs, snakemake, start_snakemake, work_folder

pytestmark = pytest.mark.slow

# what differs between two evaluations of equal checkpoints by design: when, how fast, the file time
EVAL_VOLATILE = S.EVAL_VOLATILE + ("checkpoint",)


def make_workdir(root, **changes):
    return work_folder(root, dict(TINY_WORKFLOW, **changes))


def run_dir(work):
    return work / "results" / "tiny"


def evals(work):
    folder = run_dir(work) / "eval"
    return {
        int(re.match(r"step-(\d+)\.json$", n).group(1)): S.read_json(folder / n)
        for n in sorted(os.listdir(str(folder)))
        if re.match(r"step-(\d+)\.json$", n)
    }


def comparable(record):
    out = S.without(record, EVAL_VOLATILE)
    out["checkpoint_sha256"] = record["checkpoint"]["sha256"]
    return out


def incomplete_markers(work):
    folder = work / ".snakemake" / "incomplete"
    if not folder.is_dir():
        return []
    out = []
    for name in os.listdir(str(folder)):
        try:
            out.append(base64.b64decode(name).decode())
        except ValueError:
            out.append(name)
    return sorted(out)


def rank_processes(popen):
    return [p for p in S.process_tree(popen.pid) if "train-rank" in " ".join(p.cmdline())]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted `snakemake all`."""
    work = make_workdir(tmp_path_factory.mktemp("wf-ref"))
    snakemake(work, "all", "--configfile", "tiny.yaml")
    return work


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """`snakemake all` SIGKILLed (with all its jobs) while block 2 trains, recovered the way the
    README says at HEAD: `snakemake --unlock --cores 1`, then `all --rerun-incomplete`."""
    work = make_workdir(tmp_path_factory.mktemp("wf-killed"))
    train_dir = run_dir(work) / "train"
    proc = start_snakemake(work, ["all", "--configfile", "tiny.yaml"], work / "killed.log")
    hit = S.kill_when(proc, lambda: 6 in S.metrics_steps(train_dir))
    after = {
        "hit": hit,
        "complete": checkpoints.complete_steps(str(train_dir)),
        "locks": sorted(os.listdir(str(work / ".snakemake" / "locks")))
        if (work / ".snakemake" / "locks").is_dir()
        else [],
        "evals": sorted(evals(work)) if (run_dir(work) / "eval").is_dir() else [],
    }
    plain = snakemake(work, "all", "--configfile", "tiny.yaml", check=False)
    snakemake(work, "--unlock", "--configfile", "tiny.yaml", cores=1)
    rerun = snakemake(work, "all", "--rerun-incomplete", "--configfile", "tiny.yaml")
    return {"work": work, "after": after, "plain": plain, "rerun": rerun}


def test_a_killed_snakemake_leaves_its_lock_and_only_complete_checkpoints(killed):
    after = killed["after"]
    assert after["hit"] and after["complete"] == [4] and after["locks"], after
    assert 8 not in after["evals"]
    plain = killed["plain"]  # a plain rerun is refused until the lock is removed: documented
    assert plain.returncode != 0 and "--unlock" in plain.stdout, plain.stdout[-2000:]


def test_the_recovered_run_is_complete(killed, reference):
    work = killed["work"]
    assert checkpoints.complete_steps(str(run_dir(work) / "train")) == [4, 8]
    assert S.metrics_steps(run_dir(work) / "train") == [2, 4, 6, 8]
    got, want = evals(work), evals(reference)
    assert sorted(got) == sorted(want) == [4, 8]
    assert all(got[s]["num_images"] == want[s]["num_images"] == 359 for s in got)
    for name in ("report.md", "eval_table.txt", "audit.json"):
        assert (run_dir(work) / "report" / name).stat().st_size > 0
    jobs = planned_jobs(killed["rerun"])
    assert jobs.get("train_block") == 1, jobs  # only block 2 again; block 1 was complete


def test_the_recovered_run_equals_the_uninterrupted_one(killed, reference):
    got, want = evals(killed["work"]), evals(reference)
    assert {s: comparable(r) for s, r in got.items()} == {s: comparable(r) for s, r in want.items()}
    assert _table(killed["work"]) == _table(reference)


def _table(work):
    """The seed-format eval table without its checkpoint_time(UTC) column (file times differ)."""
    text = (run_dir(work) / "report" / "eval_table.txt").read_text()
    return re.sub(r"\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "", text)


def test_after_a_kill_during_the_report_the_plain_commands_recover(killed):
    """Killed the instant the report's first file appears: Snakemake marks the report incomplete
    and keeps its lock. `snakemake --unlock` then `snakemake --cores N all` must be enough."""
    work = killed["work"]
    report = run_dir(work) / "report"
    for name in os.listdir(str(report)):
        os.remove(str(report / name))
    proc = start_snakemake(work, ["all", "--configfile", "tiny.yaml"], work / "report-kill.log")
    assert S.kill_on_file(proc, report, lambda n: True) is not None
    unlock = snakemake(work, "--unlock", "--configfile", "tiny.yaml", cores=None, check=False)
    assert unlock.returncode == 0, unlock.stdout[-2000:]
    snakemake(work, "all", "--configfile", "tiny.yaml")
    assert (report / "report.md").exists() and incomplete_markers(work) == []


def test_two_runs_with_the_same_seed_give_the_same_eval_json(reference, tmp_path):
    """A second uninterrupted run in another folder: same eval JSON but for evaluated_utc,
    images_per_sec and the checkpoint's file time; the checkpoint's sha256 too."""
    work = make_workdir(tmp_path / "again")
    snakemake(work, "all", "--configfile", "tiny.yaml")
    got, want = evals(work), evals(reference)
    for step in want:
        a, b = got[step], want[step]
        print(
            "step %d: top1 %r vs %r, loss %r vs %r (|diff| %.3g)"
            % (step, a["top1"], b["top1"], a["loss"], b["loss"], abs(a["loss"] - b["loss"]))
        )
    assert {s: comparable(r) for s, r in got.items()} == {s: comparable(r) for s, r in want.items()}


def test_evaluate_in_a_second_terminal_while_all_trains(tmp_path):
    """Block 1 done; `snakemake all` trains block 2 (its rank paused with SIGSTOP, so it is
    certainly still training). A second `snakemake evaluate` is refused by Snakemake's lock; with
    --nolock it evaluates step 4 only (the one complete checkpoint without a result) and plans no
    training. Then the rank resumes and `all` completes untouched."""
    work = make_workdir(tmp_path / "wf")
    train_dir = run_dir(work) / "train"
    # a block's target is its done marker (train_block's output; the checkpoint is no rule's output)
    block1 = str(train_dir.relative_to(work) / "done" / "step-4.json")
    snakemake(work, block1, "--configfile", "tiny.yaml")
    block2 = str(train_dir.relative_to(work) / "done" / "step-8.json")
    proc = start_snakemake(
        work, ["all", "--configfile", "tiny.yaml", "--prioritize", block2], work / "all.log"
    )
    paused = []
    try:
        S.wait_for(
            lambda: "steps 4 -> 8" in _read(train_dir / "logs" / "rank-0.log"),
            what="block 2 training",
        )
        paused = rank_processes(proc)
        assert paused
        for p in paused:
            p.send_signal(signal.SIGSTOP)
        locked = snakemake(work, "evaluate", "--configfile", "tiny.yaml", cores=1, check=False)
        second = snakemake(work, "--nolock", "evaluate", "--configfile", "tiny.yaml", cores=1)
        during = {
            "complete": checkpoints.complete_steps(str(train_dir)),
            "evals": sorted(evals(work)),
        }
        for p in paused:
            p.send_signal(signal.SIGCONT)
        assert proc.wait(timeout=S.STAGE_TIMEOUT_S) == 0, _read(work / "all.log")[-3000:]
    finally:
        for p in paused:
            try:
                p.send_signal(signal.SIGCONT)
            except S.psutil.NoSuchProcess:
                pass
        if proc.poll() is None:
            S.kill_tree(proc)
    assert locked.returncode != 0 and "cannot be locked" in locked.stdout, locked.stdout[-2000:]
    # stage_settings: settings/evaluation.json, first asked for by this evaluation
    assert planned_jobs(second) == {
        "evaluate_checkpoint": 1,
        "evaluate": 1,
        "stage_settings": 1,
    }, second.stdout[-3000:]
    assert during == {"complete": [4], "evals": [4]}
    assert checkpoints.complete_steps(str(train_dir)) == [4, 8]
    assert S.metrics_steps(train_dir) == [2, 4, 6, 8]
    assert sorted(evals(work)) == [4, 8]


def _read(path):
    try:
        with open(str(path), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def test_checkpoints_pruned_during_training_are_never_planned_again(tmp_path):
    """keep_checkpoint_max 1, three blocks. Block 1 trained and evaluated, then block 2 trained:
    rank 0 prunes checkpoint 4. `snakemake all` then plans block 3 and the missing results only
    (neither block 1 nor its evaluation again), completes, and leaves nothing to do."""
    work = make_workdir(tmp_path / "wf", max_train_steps=12, keep_checkpoint_max=1)
    train_dir = run_dir(work) / "train"
    block = "results/tiny/train/done/step-%d.json"  # a block's target: its done marker
    for target in (block % 4, "results/tiny/eval/step-4.json", block % 8):
        snakemake(work, target, "--configfile", "tiny.yaml")
    assert checkpoints.complete_steps(str(train_dir)) == [8]
    dry = snakemake(work, "all", "-n", "--configfile", "tiny.yaml")
    plan = dry.stdout
    # stage_settings: settings/export.json, which no target built so far asked for
    assert planned_jobs(dry) == {
        "train_block": 1,
        "evaluate_checkpoint": 2,
        "export": 1,
        "report": 1,
        "stage_settings": 1,
        "all": 1,
    }, plan
    assert "done/step-12.json" in plan and "done/step-4.json" not in plan
    snakemake(work, "all", "--configfile", "tiny.yaml")
    assert "Nothing to be done" in snakemake(work, "all", "-n", "--configfile", "tiny.yaml").stdout
    assert sorted(evals(work)) == [4, 8, 12]
    # 12 stays (the newest); 8 stays only if it had no result yet when 12 was saved, which depends
    # on the order Snakemake runs evaluation 8 and block 3 in
    assert checkpoints.complete_steps(str(train_dir)) in ([12], [8, 12])
