"""`resnext train` ends in train/done/step-<step>.json, the workflow's train_block output (issue 12
item 1): Snakemake deletes a job's output before it reruns it, so the output must never be the
checkpoint. A block whose checkpoint already exists starts no rank and only writes the marker (and a
missing block record, rebuilt as recovered). The ranks are replaced by a stand-in that saves (or
does not save) a checkpoint: what is tested is the launcher around them. Real training runs in
tests/reliability/test_config_changes.py.
"""

import os

import pytest

from resnext import atomic, checkpoints, paths
from resnext.data import choice
from resnext.train import launch, recipe


def _save(cfg, step):
    os.makedirs(paths.ckpt_dir(cfg.train_dir), exist_ok=True)
    open(paths.ckpt_index(cfg.train_dir, step), "wb").close()


@pytest.fixture
def launcher(tiny_cfg, monkeypatch):
    """-> (cfg, ranks started: [until_step]); the stand-in ranks save the block's checkpoint
    unless cfg's run is told not to (saves=False)."""
    cfg = tiny_cfg()
    started, saves = [], [True]

    def ranks(c, argv, log_dir, env_extra=None):
        step = int(argv[argv.index("--until-step") + 1])
        started.append(step)
        if saves[0]:
            _save(c, step)

    monkeypatch.setattr(launch, "supervise", ranks)
    monkeypatch.setattr(
        launch.preflight,
        "check_launch",
        lambda c: (atomic.read_json(choice.manifest_path(c)), {"check": "size"}),
    )
    return cfg, started, saves


def test_a_trained_block_ends_in_its_marker(launcher):
    cfg, started, _ = launcher
    launch.train(cfg, None, 4)
    done = atomic.read_json(paths.block_done(cfg.train_dir, 4))
    assert started == [4]
    assert {k: done[k] for k in ("until_step", "checkpoint_step", "ranks_started")} == {
        "until_step": 4,
        "checkpoint_step": 4,
        "ranks_started": True,
    }
    assert done["recipe_sha256"] == cfg.sha256("training")


def test_a_block_already_covered_starts_no_rank_and_keeps_every_checkpoint(launcher):
    cfg, started, _ = launcher
    launch.train(cfg, None, 4)
    launch.train(cfg, None, 8)
    os.remove(paths.block_done(cfg.train_dir, 4))  # what Snakemake does before a rerun
    assert not os.path.exists(paths.block_record(cfg.train_dir, 1))  # the stand-in wrote none
    before = checkpoints.complete_steps(cfg.train_dir)
    launch.train(cfg, None, 4)
    assert started == [4, 8]  # the rerun started no rank
    assert checkpoints.complete_steps(cfg.train_dir) == before == [4, 8]
    done = atomic.read_json(paths.block_done(cfg.train_dir, 4))
    assert done["checkpoint_step"] == 8 and done["ranks_started"] is False
    assert atomic.read_json(paths.block_record(cfg.train_dir, 1))["recovered"] is True


def test_ranks_that_exit_0_without_a_checkpoint_leave_no_marker(launcher):
    cfg, started, saves = launcher
    saves[0] = False
    with pytest.raises(launch.RankFailed, match="no complete checkpoint at step 4"):
        launch.train(cfg, None, 4)
    assert started == [4] and not os.path.exists(paths.block_done(cfg.train_dir, 4))


def test_a_covered_block_still_checks_the_recipe_first(launcher, tiny_cfg):
    cfg, started, _ = launcher
    launch.train(cfg, None, 4)
    os.remove(paths.block_done(cfg.train_dir, 4))
    with pytest.raises(recipe.RecipeChanged, match="learning_rate_maximum 0.05 -> 0.1"):
        launch.train(tiny_cfg(learning_rate_maximum=0.1), None, 4)
    assert not os.path.exists(paths.block_done(cfg.train_dir, 4))


def test_the_workflow_check_reads_the_manifest_on_disk(launcher, tiny_cfg):
    cfg, _, _ = launcher
    assert recipe.check_workflow(cfg) == []  # nothing trained yet
    launch.train(cfg, None, 4)
    assert recipe.check_workflow(tiny_cfg(num_epochs=2 * cfg.num_epochs, max_train_steps=12)) == [
        ("max_train_steps", 8, 12, "extended"),
        ("num_epochs", cfg.num_epochs, 2 * cfg.num_epochs, "extended"),
    ]
    with pytest.raises(recipe.RecipeChanged, match="learning_rate_maximum"):
        recipe.check_workflow(tiny_cfg(learning_rate_maximum=0.1))
