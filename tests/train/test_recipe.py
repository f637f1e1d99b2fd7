"""The training recipe (resnext.train.recipe): which config changes an existing run may go on with.

A run "has trained" once a checkpoint index (or a block record) exists; these tests make that state
with an empty `.index` file, which is all resnext.checkpoints looks at. The workflow-level
behaviour, with real training, is in tests/reliability/test_config_changes.py.
"""

import json
import logging
import os

import pytest
import yaml

from resnext import atomic, cli, paths
from resnext.config import AFFECTS, OPERATIONS, STAGES, ConfigError, keys_affecting
from resnext.train import launch, recipe


MANIFEST = {
    "splits": {
        "train": {
            "num_images": 120,
            "shards": [
                {"name": "train-00000-of-00002", "sha256": "a" * 64, "num_records": 60},
                {"name": "train-00001-of-00002", "sha256": "b" * 64, "num_records": 60},
            ],
        }
    },
    "label_map": {"d0": 0, "d1": 1},
    "source": "/somewhere",
}
NOW = "2026-12-07T07:00:00Z"


def _trained_to(cfg, step):
    os.makedirs(paths.ckpt_dir(cfg.train_dir), exist_ok=True)
    open(paths.ckpt_prefix(cfg.train_dir, step) + ".index", "wb").close()


@pytest.fixture
def run(tiny_cfg):
    """A tiny run (blocks end at 4 and 8) whose recipe was written at its start and that has
    trained block 1; -> the config factory for changed configs of the same run."""
    cfg = tiny_cfg()
    recipe.begin_block(cfg, MANIFEST, NOW)
    _trained_to(cfg, 4)
    return tiny_cfg


def test_every_key_says_what_it_affects():
    assert all(v == (OPERATIONS,) or set(v) <= set(STAGES) for v in AFFECTS.values())
    assert "learning_rate_maximum" in keys_affecting("training")
    assert "rank_timeout_s" not in sum((keys_affecting(s) for s in STAGES), ())
    assert keys_affecting("export") == (
        "arch",
        "backend",
        "bn_epsilon",
        "eval_batch_size",
        "grouped_conv",
        "image_size",
        "num_classes",
    )


def test_a_stage_digest_ignores_keys_that_do_not_affect_it(tiny_cfg):
    cfg = tiny_cfg()
    ops = cfg.replace(rank_timeout_s=5.0, keep_checkpoint_max=3)
    assert ops.sha256() != cfg.sha256()
    assert all(ops.sha256(stage) == cfg.sha256(stage) for stage in STAGES)
    evaluation = cfg.replace(eval_batch_size=4)
    assert evaluation.sha256("training") == cfg.sha256("training")
    assert evaluation.sha256("evaluation") != cfg.sha256("evaluation")


def test_the_first_block_records_the_recipe(tiny_cfg):
    cfg = tiny_cfg()
    assert recipe.begin_block(cfg, MANIFEST, NOW) == []
    record = atomic.read_json(recipe.recipe_path(cfg))
    keys = record["keys"]
    assert keys["learning_rate_maximum"] == 0.05 and "rank_timeout_s" not in keys
    assert record["keys_sha256"] == cfg.sha256("training") and record["changes"] == []
    assert record["versions"] == [
        {
            "from_step": 0,
            "keys_sha256": cfg.sha256("training"),
            "utc": NOW,
            "train_data_sha256": record["train_data"]["sha256"],
        }
    ]
    assert record["train_data"]["shards"] == 2 and record["train_data"]["num_images"] == 120


def test_operations_keys_change_nothing(run):
    cfg = run(rank_timeout_s=60.0, keep_checkpoint_max=1, convert_workers=1, threads_per_rank=2)
    assert recipe.check(cfg, MANIFEST) == []
    assert recipe.begin_block(cfg, MANIFEST, NOW) == []


def test_a_training_key_change_is_refused_naming_old_and_new(run):
    cfg = run(learning_rate_maximum=0.1, batch_size=4)
    before = open(recipe.recipe_path(cfg), "rb").read()
    with pytest.raises(recipe.RecipeChanged) as refused:
        recipe.begin_block(cfg, MANIFEST, NOW)
    text = str(refused.value)
    assert "batch_size 8 -> 4, learning_rate_maximum 0.05 -> 0.1" in text
    assert "has trained to step 4" in text and "new run_name" in text and "accept_changes" in text
    assert open(recipe.recipe_path(cfg), "rb").read() == before


def test_an_accepted_change_goes_on_and_is_recorded_at_the_step(run):
    cfg = run(learning_rate_maximum=0.1, accept_changes=["learning_rate_maximum"])
    assert recipe.check(cfg, MANIFEST) == [("learning_rate_maximum", 0.05, 0.1, "accepted")]
    recipe.begin_block(cfg, MANIFEST, NOW)
    record = atomic.read_json(recipe.recipe_path(cfg))
    assert record["changes"] == [
        {
            "step": 4,
            "key": "learning_rate_maximum",
            "old": 0.05,
            "new": 0.1,
            "how": "accepted",
            "utc": NOW,
        }
    ]
    assert [v["from_step"] for v in record["versions"]] == [0, 4]
    first, second = recipe.version_at(record, 4), recipe.version_at(record, 8)
    assert first["keys_sha256"] != second["keys_sha256"] == cfg.sha256("training")
    assert recipe.begin_block(cfg, MANIFEST, NOW) == []  # recorded once: the rerun of the block


def test_accept_changes_names_only_training_keys(tiny_cfg):
    with pytest.raises(ConfigError, match="'rank_timeout_s', which is no training key"):
        tiny_cfg(accept_changes=["rank_timeout_s"])


def test_more_steps_extend_the_run(run):
    cfg = run(max_train_steps=16)
    assert cfg.block_steps == [4, 8, 12, 16]
    assert recipe.check(cfg, MANIFEST) == [("max_train_steps", 8, 16, "extended")]


def test_fewer_steps_or_moved_boundaries_are_not_an_extension(run):
    with pytest.raises(recipe.RecipeChanged, match="max_train_steps 8 -> 6"):
        recipe.check(run(max_train_steps=6), MANIFEST)
    with pytest.raises(recipe.RecipeChanged, match="block boundaries up to step 4"):
        recipe.check(run(max_train_steps=16, checkpoint_every_steps=6), MANIFEST)


def test_a_complete_run_has_nothing_to_go_on_with(run):
    cfg = run(learning_rate_maximum=0.1, accept_changes=["learning_rate_maximum"])
    _trained_to(cfg, 8)
    with pytest.raises(recipe.RecipeChanged, match="is complete"):
        recipe.check(cfg, MANIFEST)


def test_other_train_shards_are_a_change_of_their_own(run):
    other = json.loads(json.dumps(MANIFEST))
    other["splits"]["train"]["shards"][1]["sha256"] = "c" * 64
    other["source"] = "/elsewhere"
    assert recipe.check(run(), dict(MANIFEST, source="/moved")) == []  # same shards: same data
    with pytest.raises(recipe.RecipeChanged, match="train_data"):
        recipe.check(run(), other)
    assert [c[0] for c in recipe.check(run(accept_changes=["train_data"]), other)] == ["train_data"]


def test_a_damaged_recipe_is_named(run):
    cfg = run()
    with open(recipe.recipe_path(cfg), "w") as f:
        f.write("[1, 2")
    with pytest.raises(ConfigError, match="recipe.json is not a training recipe"):
        recipe.check(cfg, MANIFEST)


def test_train_refuses_a_changed_key_before_any_rank(run, tmp_path, caplog, monkeypatch):
    cfg = run(learning_rate_maximum=0.1)
    started = []
    monkeypatch.setattr(launch, "supervise", lambda *a, **k: started.append(a))
    monkeypatch.setattr(launch.preflight, "check_launch", lambda c: (MANIFEST, {}))
    config = str(tmp_path / "changed.yaml")
    with open(config, "w") as f:
        yaml.safe_dump(cfg.to_dict(), f)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        code = cli.main(["train", "--config", config, "--until-step", "8"])
    assert code == 2 and started == [] and "learning_rate_maximum 0.05 -> 0.1" in caplog.text
    assert not os.path.exists(os.path.join(cfg.train_dir, "config.ranks.yaml"))
