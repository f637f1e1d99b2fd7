"""What a kill can leave on disk, built exactly (no timing): half-written checkpoints, temp files of
results and shards. None of it is ever read as complete, and the next run gets past it.
(test_kill_*.py produce the same states with real SIGKILLs.)"""

import os
import shutil

import pytest

from resnext import checkpoints, paths
from resnext.backends import get_backend
from resnext.data import pipeline
from resnext.evaluate import evaluate
from resnext.train import loop

import rel_support as S


def test_a_checkpoint_without_its_index_does_not_count_and_is_trained_over(tiny_cfg, caplog):
    """Block 2's save killed after the data shard, before the index: resume from step 4."""
    cfg = tiny_cfg()
    loop.train_block(cfg, 4, get_backend(cfg, 0, 1))
    prefix4, prefix8 = (paths.ckpt_prefix(cfg.train_dir, s) for s in (4, 8))
    shutil.copy(prefix4 + ".data-00000-of-00001", prefix8 + ".data-00000-of-00001")  # wrong weights
    open(
        prefix8 + ".data-00000-of-00001.tempstate4242", "wb"
    ).close()  # TensorFlow's temp of a killed save
    open(prefix8 + ".index.tempstate77", "wb").close()
    assert (
        checkpoints.complete_steps(cfg.train_dir) == [4]
        and checkpoints.latest_step(cfg.train_dir) == 4
    )
    with pytest.raises(FileNotFoundError, match="no model.ckpt-8.index"):
        evaluate(cfg, prefix8)
    with caplog.at_level("INFO"):
        loop.train_block(cfg, 8, get_backend(cfg, 0, 1))
    assert "training block 2, steps 4 -> 8" in caplog.text
    assert checkpoints.complete_steps(cfg.train_dir) == [4, 8]
    a, b = S.checkpoint_tensors(prefix8), S.checkpoint_tensors(prefix4)
    assert S.tensor_differences(a, b)  # the real step-8 weights, not the copied step-4 ones
    assert S.metrics_steps(cfg.train_dir) == [2, 4, 6, 8]


def test_temp_files_of_a_killed_save_are_not_part_of_the_checkpoint_hash(tiny_cfg):
    cfg = tiny_cfg()
    loop.train_block(cfg, 4, get_backend(cfg, 0, 1))
    prefix = paths.ckpt_prefix(cfg.train_dir, 4)
    clean = checkpoints.sha256(prefix)
    with open(prefix + ".data-00000-of-00001.tempstate123", "wb") as f:
        f.write(b"half a checkpoint")
    assert checkpoints.sha256(prefix) == clean


def test_temp_files_of_results_and_shards_are_never_read(digits_data, tmp_path):
    """Temp names (ours: <name>.tmp-<pid>; the converter's <shard>.frames-<pid>) never match what
    readers look for."""
    data = tmp_path / "data"
    shutil.copytree(digits_data, str(data))
    for name in (
        "train-00000-of-00002.tmp-999",
        "train-00002-of-00002.frames-123",
        "validation-00000-of-00002.tmp-1",
    ):
        (data / name).write_bytes(b"\0half")
    assert [os.path.basename(p) for p in pipeline.list_shards(str(data), "train")] == [
        "train-00000-of-00002",
        "train-00001-of-00002",
    ]
    assert [os.path.basename(p) for p in pipeline.list_shards(str(data), "validation")] == [
        "validation-00000-of-00002",
        "validation-00001-of-00002",
    ]
    cfg = S.tiny_config(data, tmp_path / "results")
    from resnext.report.collect import load_evals

    eval_dir = os.path.join(cfg.run_dir, "eval")
    os.makedirs(eval_dir)
    with open(os.path.join(eval_dir, "step-4.json.tmp-999"), "w") as f:
        f.write('{"step": 4, "top1": 0.')
    with pytest.raises(FileNotFoundError, match="no evaluation results"):
        load_evals(cfg.run_dir, [])
