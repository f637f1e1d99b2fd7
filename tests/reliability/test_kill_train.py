"""SIGKILL of a training block (`resnext train`: the launcher and its rank processes) during steps,
during a checkpoint save and between the checkpoint and its block record. After each kill no partial
checkpoint counts, and a rerun resumes from the newest complete checkpoint and ends where an
uninterrupted run with the same seed ends.

The kill points are events (a line in metrics.jsonl, a file appearing in train/ckpt, seen through
inotify), so they land in the same phase on every run; one more point is a seeded fraction of the
measured block time.
"""

import os
import random
import time

import pytest

from resnext import checkpoints, paths
from resnext.evaluate import evaluate

import rel_support as S


def _train(path, step, **kw):
    return S.run_cli("train", "--config", path, "--until-step", step, **kw)


def _start(path, step, log):
    return S.start_cli(["train", "--config", path, "--until-step", step], log)


def _state(cfg):
    """What a reader would take from disk right now."""
    return {
        "complete": checkpoints.complete_steps(cfg.train_dir),
        "partial8": [os.path.basename(p) for p in S.partial_checkpoint_files(cfg.train_dir, 8)],
        "metrics": S.metrics_steps(cfg.train_dir),
        "blocks": sorted(n for n in os.listdir(cfg.train_dir) if n.startswith("block-"))
        if os.path.isdir(cfg.train_dir)
        else [],
    }


def _assert_consistent(cfg, state):
    """Invariants after any kill: every checkpoint that counts restores; nothing else counts."""
    for step in state["complete"]:
        assert S.checkpoint_tensors(paths.ckpt_prefix(cfg.train_dir, step))
    if 8 not in state["complete"]:
        with pytest.raises(FileNotFoundError, match="no model.ckpt-8.index"):
            evaluate(cfg, paths.ckpt_prefix(cfg.train_dir, 8))
        assert not os.path.exists(os.path.join(cfg.run_dir, "eval", "step-8.json"))
    for name in state["blocks"]:  # a block record only exists for a complete checkpoint
        assert S.read_json(os.path.join(cfg.train_dir, name))["end_step"] in state["complete"]


def _final(cfg):
    steps = checkpoints.complete_steps(cfg.train_dir)
    prefixes = {s: paths.ckpt_prefix(cfg.train_dir, s) for s in steps}
    return {
        "steps": sorted(prefixes),
        "tensors": {s: S.checkpoint_tensors(p) for s, p in prefixes.items()},
        "sha256": {s: checkpoints.sha256(p) for s, p in prefixes.items()},
        "curve": S.training_curve(cfg.train_dir),
        "eval": S.eval_numbers(evaluate(cfg, prefixes[8])),
        "blocks": [S.read_json(paths.block_record(cfg.train_dir, b)) for b in (1, 2)],
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory, digits_data):
    """An uninterrupted run, block by block, as separate processes (as Snakemake runs them)."""
    root = tmp_path_factory.mktemp("train-ref")
    cfg = S.tiny_config(digits_data, root / "results", "ref")
    path = S.write_config(cfg, root / "ref.yaml")
    seconds = []
    for step in cfg.block_steps:
        t0 = time.time()
        _train(path, step)
        seconds.append(time.time() - t0)
    out = _final(cfg)
    out["block_seconds"] = seconds
    return out


@pytest.fixture(scope="module")
def save_kill(tmp_path_factory, digits_data):
    """Block 2 killed while Saver writes model.ckpt-8 (its data temp file has just appeared),
    rerun."""
    root = tmp_path_factory.mktemp("train-savekill")
    cfg = S.tiny_config(digits_data, root / "results", "killed")
    path = S.write_config(cfg, root / "killed.yaml")
    _train(path, 4)
    sha4 = checkpoints.sha256(paths.ckpt_prefix(cfg.train_dir, 4))
    attempts = []
    for attempt in range(3):  # a loaded machine may let the save finish before the kill lands
        proc = _start(path, 8, root / "kill.log")
        hit = S.kill_on_file(
            proc, paths.ckpt_dir(cfg.train_dir), lambda name: name.startswith("model.ckpt-8.data-")
        )
        state = _state(cfg)
        attempts.append((hit, state))
        if 8 not in state["complete"]:
            break
        for leftover in S.partial_checkpoint_files(
            cfg.train_dir, 8
        ):  # missed: take the save back, retry
            os.remove(leftover)
        if os.path.exists(paths.block_record(cfg.train_dir, 2)):
            os.remove(paths.block_record(cfg.train_dir, 2))
    _assert_consistent(cfg, state)
    rerun = _train(path, 8)
    return {
        "cfg": cfg,
        "attempts": attempts,
        "after_kill": state,
        "sha4_before": sha4,
        "rerun_log": rerun.stdout,
        "final": _final(cfg),
    }


def test_a_kill_during_the_save_leaves_no_checkpoint_that_counts(save_kill):
    hit, state = save_kill["attempts"][-1]
    assert hit is not None and hit.startswith("model.ckpt-8.data-"), save_kill["attempts"]
    assert state["complete"] == [4], save_kill["attempts"]
    assert state["partial8"] and "model.ckpt-8.index" not in state["partial8"]
    assert state["blocks"] == ["block-1.json"]
    assert state["metrics"] == [
        2,
        4,
        6,
        8,
    ]  # logged before the save; dropped and rewritten by the rerun


def test_the_rerun_resumes_from_the_last_complete_checkpoint(save_kill):
    cfg, final = save_kill["cfg"], save_kill["final"]
    assert final["steps"] == [4, 8]
    assert final["sha256"][4] == save_kill["sha4_before"]  # the previous checkpoint is untouched
    assert "steps 4 -> 8" in save_kill["rerun_log"]
    assert S.metrics_steps(cfg.train_dir) == [2, 4, 6, 8]
    block2 = final["blocks"][1]
    assert (block2["start_step"], block2["end_step"], block2["recovered"]) == (4, 8, False)
    assert final["eval"]["num_images"] == 40


def test_two_fresh_runs_with_the_same_seed_write_the_same_first_checkpoint(reference, save_kill):
    """Block 1 of the killed run was not interrupted:
    it is a second run of the reference's block 1."""
    assert S.tensor_differences(save_kill["final"]["tensors"][4], reference["tensors"][4]) == {}


def test_after_the_kill_and_rerun_the_results_equal_an_uninterrupted_run(reference, save_kill):
    final = save_kill["final"]
    assert final["steps"] == reference["steps"]
    assert S.tensor_differences(final["tensors"][8], reference["tensors"][8]) == {}
    assert final["curve"] == reference["curve"]
    assert final["eval"] == reference["eval"]


def test_the_recorded_checkpoint_hash_equals_the_uninterrupted_one(reference, save_kill):
    """The killed save left model.ckpt-8.data-*.tempstate<N>; the hash that eval JSON and audit
    record must cover the checkpoint's own files only."""
    assert save_kill["final"]["sha256"][8] == reference["sha256"][8]


@pytest.fixture(scope="module")
def chain(reference, tmp_path_factory, digits_data):
    """One run killed five times: at a seeded fraction of block 1, during block 1's steps, during
    block 2's steps, during block 2's save and right after block 2's index (before its block
    record); rerun after each kill, and checked after each."""
    root = tmp_path_factory.mktemp("train-chain")
    cfg = S.tiny_config(digits_data, root / "results", "chain")
    path = S.write_config(cfg, root / "chain.yaml")
    ckpt_dir = paths.ckpt_dir(cfg.train_dir)
    log = root / "kills.log"
    seen, states = [], []

    def record(what, outcome):
        state = _state(cfg)
        _assert_consistent(cfg, state)
        seen.append((what, outcome))
        states.append(state)
        return state

    # 1. a seeded point of block 1 (start-up, graph building, steps or save: wherever it lands)
    fraction = random.Random(8).uniform(0.3, 0.9)
    proc = _start(path, 4, log)
    record(
        "seeded %.2f of block 1" % fraction,
        S.kill_after(proc, fraction * reference["block_seconds"][0]),
    )
    # 2. block 1 during its steps: step 2 logged, no checkpoint yet
    if not checkpoints.complete_steps(cfg.train_dir):
        proc = _start(path, 4, log)
        state = record(
            "block 1 after step 2",
            S.kill_when(
                proc,
                lambda: (
                    2 in S.metrics_steps(cfg.train_dir)
                    and not checkpoints.complete_steps(cfg.train_dir)
                ),
            ),
        )
        assert state["blocks"] == [] or state["complete"] == [4]
    _train(path, 4)
    # 3. block 2 during its steps
    proc = _start(path, 8, log)
    state = record(
        "block 2 after step 6", S.kill_when(proc, lambda: 6 in S.metrics_steps(cfg.train_dir))
    )
    assert state["complete"] in ([4], [4, 8])
    # 4. block 2 during its save
    if 8 not in checkpoints.complete_steps(cfg.train_dir):
        proc = _start(path, 8, log)
        record(
            "block 2 save",
            S.kill_on_file(proc, ckpt_dir, lambda n: n.startswith("model.ckpt-8.data-")),
        )
    # 5. block 2 after its index, before block-2.json
    if 8 not in checkpoints.complete_steps(cfg.train_dir):
        proc = _start(path, 8, log)
        record(
            "block 2 index written",
            S.kill_on_file(proc, ckpt_dir, lambda n: n == "model.ckpt-8.index"),
        )
    rerun = _train(path, 8)
    return {
        "cfg": cfg,
        "seen": seen,
        "states": states,
        "rerun_log": rerun.stdout,
        "final": _final(cfg),
    }


@pytest.mark.slow
def test_a_run_killed_at_every_phase_completes(chain):
    cfg, final = chain["cfg"], chain["final"]
    print("kills:", chain["seen"])
    assert len(chain["seen"]) >= 3
    assert final["steps"] == [4, 8]
    assert S.metrics_steps(cfg.train_dir) == [2, 4, 6, 8]
    if "block-2.json" not in chain["states"][-1]["blocks"] and 8 in chain["states"][-1]["complete"]:
        # killed between the index and the block record: the rerun trains nothing,
        # rebuilds the record
        assert final["blocks"][1]["recovered"] is True and "already covers" in chain["rerun_log"]


@pytest.mark.slow
def test_a_run_killed_at_every_phase_ends_like_an_uninterrupted_one(reference, chain):
    final = chain["final"]
    diffs = S.tensor_differences(final["tensors"][8], reference["tensors"][8])
    print(
        "variables differing from the reference:",
        len(diffs),
        "max |diff|:",
        max(diffs.values()) if diffs else 0,
    )
    assert diffs == {}
    assert final["curve"] == reference["curve"]
    assert final["eval"] == reference["eval"]
