"""The presets carry the seed's recipe; docs/recipe.md names only keys that exist."""

import os
import re

import pytest

from resnext.config import load_config, load_schema
from resnext.train.schedule import evaluate_schedule

from support.paths import DEMO_CONFIG, ROOT

PRESETS = os.path.join(ROOT, "config", "presets")


def preset(*names):
    return load_config([DEMO_CONFIG] + [os.path.join(PRESETS, n + ".yaml") for n in names])


def test_imagenet_8p_is_the_seed_recipe():
    cfg = preset("imagenet-8p")
    assert (cfg.arch, cfg.image_size, cfg.num_classes, cfg.label_offset) == (
        "resnext50_32x4d",
        224,
        1001,
        1,
    )
    assert (cfg.rank_size, cfg.batch_size, cfg.num_train_images) == (8, 32, 1281167)
    assert (cfg.momentum, cfg.nesterov, cfg.weight_decay, cfg.label_smoothing) == (
        0.9,
        True,
        1e-4,
        0.1,
    )
    assert (cfg.bn_decay, cfg.bn_epsilon, cfg.loss_scale) == (0.9, 1e-4, 1024)
    assert (
        cfg.lr_decay_mode,
        cfg.learning_rate_maximum,
        cfg.learning_rate_end,
        cfg.warmup_epochs,
    ) == ("cosine", 0.1, 1e-6, 5)
    assert (cfg.steps_per_epoch, cfg.schedule_steps, cfg.train_steps) == (5004, 600480, 601000)
    # the seed's eval table rows 226000 .. 601000 are block ends here
    assert cfg.block_steps[-5:] == [226000, 339000, 452000, 565000, 601000]
    assert cfg.precision_mode == "allow_mix_precision" and cfg.backend == "npu"


def test_imagenet_1p_is_the_seed_throughput_run():
    cfg = preset("imagenet-8p", "imagenet-1p")
    assert (cfg.rank_size, cfg.batch_size, cfg.train_steps, cfg.lr_decay_mode) == (
        1,
        32,
        10000,
        "constant",
    )
    assert evaluate_schedule(cfg, [0, 5000, 9999]) == pytest.approx([0.1, 0.1, 0.1])


def test_demo_8p_preset_loads():
    cfg = preset("demo-8p")
    assert cfg.rank_size == 8 and cfg.global_batch == 8 * cfg.batch_size


def test_recipe_doc_names_real_keys():
    with open(os.path.join(ROOT, "docs", "recipe.md"), encoding="utf-8") as f:
        text = f.read()
    keys = set(load_schema()["properties"])
    named = set(re.findall(r"`([a-z_]+)`", text)) - {
        "seed",
        "corrected",
        "constant",
        "cosine",
        "dynamic",
        "resize_center",
        "nesterov",
        "resnext50_32x4d",
        "allow_mix_precision",
        "is_batch_norm_variable",
        "bf16",
        "fp16",
        "resnext",
        "num_images",
        "train_steps",
    }
    assert named and named <= keys, named - keys


def test_config_readme_lists_every_key_and_every_preset():
    """config/README.md names each schema key once, in a topic table row, and every preset file."""
    with open(os.path.join(ROOT, "config", "README.md"), encoding="utf-8") as f:
        text = f.read()
    rows = re.findall(r"^\| `([a-z0-9_]+)` \|", text, re.M)
    keys = load_schema()["properties"]
    assert sorted(rows) == sorted(keys), set(rows) ^ set(keys)
    for name in os.listdir(PRESETS):
        assert "`%s`" % name in text, name
