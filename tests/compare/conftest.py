"""Real tiny runs for the compare tests: the real training blocks, evaluation and predictions
writer (resnext.train.loop, resnext.evaluate) on 120 real digits, each trained once per session."""

import os
import shutil

import pytest

from resnext import paths
from resnext.backends import get_backend
from resnext.config import load_config, write_resolved
from resnext.data import convert
from resnext.evaluate import evaluate
from resnext.train import loop
from support.paths import CLASSES, DEMO_CONFIG, TINY, TRAIN_PER_CLASS, VAL_PER_CLASS
from support.trees import write_tree


def _finish(cfg):
    """Train every block of cfg, evaluate each checkpoint, write the resolved config."""
    for step in cfg.block_steps:
        loop.train_block(cfg, step, get_backend(cfg, 0, 1))
        evaluate(cfg, paths.ckpt_prefix(cfg.train_dir, step))
    write_resolved(cfg, paths.resolved_config(cfg.run_dir))
    return cfg.run_dir


@pytest.fixture(scope="session")
def runs(tmp_path_factory, digits_data):
    """{name: run folder}: a, b (a's config, another run_name: the same seed), lr (a with
    learning_rate_maximum changed), other_val (a's checkpoints evaluated on other digits)."""
    root = tmp_path_factory.mktemp("compare")

    def cfg(name, data=digits_data, **changes):
        values = dict(TINY, data_url=data, results_dir=str(root / "results"), run_name=name)
        return load_config([DEMO_CONFIG], values=dict(values, **changes))

    out = {
        "a": _finish(cfg("a")),
        "b": _finish(cfg("b")),
        "lr": _finish(cfg("lr", learning_rate_maximum=0.2)),
    }
    # other validation images: one more digit per class, so the names differ from digits_data's
    source = write_tree(root / "source", TRAIN_PER_CLASS, (VAL_PER_CLASS + 1,) * CLASSES, 32)
    other = cfg("other_val", data=str(root / "data"), source_dir=source)
    convert.convert(other)
    shutil.copytree(os.path.join(out["a"], "train"), other.train_dir)
    for step in other.block_steps:
        evaluate(other, paths.ckpt_prefix(other.train_dir, step))
    write_resolved(other, paths.resolved_config(other.run_dir))
    out["other_val"] = other.run_dir
    return out
