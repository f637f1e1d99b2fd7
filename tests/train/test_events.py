"""TensorBoard events of the evaluation: each evaluated checkpoint adds eval/top1, eval/top5 and
eval/loss at its global step, in event files under <run>/eval/ (train/ holds the training curves),
so `tensorboard --logdir results/<run>` shows both."""

import glob
import json
import os

import pytest

from resnext.backends import get_backend
from resnext.compat import tf
from resnext.evaluate import evaluate
from resnext.train import loop
from resnext.train.events import EVAL_TAGS
from resnext import paths


@pytest.fixture
def trained(tiny_cfg):
    cfg = tiny_cfg(eval_batch_size=16)
    loop.train_block(cfg, 4, get_backend(cfg))
    return cfg, paths.ckpt_prefix(cfg.train_dir, 4)


def _scalars(folder):
    """{(tag, step): value} from every event file in folder."""
    found = {}
    for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        for event in tf.train.summary_iterator(path):
            for value in event.summary.value:
                found[(value.tag, event.step)] = value.simple_value
    return found


def test_evaluation_writes_eval_tags_at_the_checkpoint_step(trained):
    cfg, prefix = trained
    result = evaluate(cfg, prefix)
    scalars = _scalars(os.path.join(cfg.run_dir, "eval"))
    assert (
        {tag for tag, _ in scalars}
        == {"eval/" + t for t in EVAL_TAGS}
        == {"eval/top1", "eval/top5", "eval/loss"}
    )
    for tag in EVAL_TAGS:
        assert scalars[("eval/" + tag, 4)] == pytest.approx(result[tag], rel=1e-6)
    with open(os.path.join(cfg.run_dir, "eval", "step-4.json"), encoding="utf-8") as f:
        assert json.load(f)["top1"] == result["top1"]
    train_tags = {tag for tag, _ in _scalars(cfg.train_dir)}
    assert "train/loss" in train_tags and not train_tags & {"eval/top1", "eval/top5", "eval/loss"}
