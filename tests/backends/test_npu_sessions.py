"""The stages that open an NPU session (training blocks, fine-tuning restore, benchmark, evaluation,
export) with iterations_per_loop 10 on backend npu, against the fake adapter (tests/fakes).

The fake builds set_iteration_per_loop's variables in the default graph and loads them through
the session, as the real adapter does, and its device runs the graph iterations_per_loop times per
sess.run of IterationOp: a stage calling npu_bridge outside its graph, or counting steps as runs,
fails here. Nothing here shows that anything runs on an NPU.
"""

import numpy as np
import pytest

from resnext import benchmark, checkpoints, paths
from resnext.backends import get_backend
from resnext.compat import tf
from resnext.evaluate import evaluate
from resnext.export import export
from resnext.train import loop, records

LOOP = 10
NPU = {
    "backend": "npu",
    "rank_size": 1,
    "precision_mode": "allow_mix_precision",
    "loss_scale": 1024,
    "iterations_per_loop": LOOP,
    "max_train_steps": 2 * LOOP,
    "checkpoint_every_steps": LOOP,
}


@pytest.fixture
def npu_tiny(tiny_cfg, fake_bridge):
    """Factory of tiny digits configs on backend npu (one device, iterations_per_loop 10)."""

    def make(**changes):
        return tiny_cfg(**dict(NPU, **changes))

    return make


def _device_loops():
    from npu_bridge import _device

    return list(_device.LOOPS)


def _checkpoint_step(prefix):
    return int(tf.train.NewCheckpointReader(prefix).get_tensor("global_step"))


def test_training_blocks_run_ten_steps_per_session_run_and_resume(npu_tiny, fake_bridge):
    cfg = npu_tiny()
    assert cfg.block_steps == [LOOP, 2 * LOOP]
    for until in cfg.block_steps:
        loop.train_block(cfg, until, get_backend(cfg, 0, 1))
    assert _device_loops() == [LOOP, LOOP]  # one sess.run per block, each a device loop of 10 steps
    assert checkpoints.complete_steps(cfg.train_dir) == [LOOP, 2 * LOOP]
    assert _checkpoint_step(paths.ckpt_prefix(cfg.train_dir, 2 * LOOP)) == 2 * LOOP
    metrics = records.read_metrics(cfg)
    assert [(r["step"], r["steps"]) for r in metrics] == [(LOOP, LOOP), (2 * LOOP, LOOP)]
    assert all(np.isfinite(r["loss"]) for r in metrics)
    loads = fake_bridge.calls("util.set_iteration_per_loop")
    assert [c["iterations_per_loop"] for c in loads] == [LOOP, LOOP]


def test_loop_counters_are_loaded_after_every_variable_is_initialised(npu_tiny, monkeypatch):
    """The order loop.py must keep (the real adapter does not check it): a local-variable
    initialiser run after set_iteration_per_loop would zero the counters, and the device would
    then loop once per sess.run."""
    from npu_bridge.estimator.npu import util

    real = util.set_iteration_per_loop
    seen = []

    def spy(sess, train_op, iterations_per_loop=1):
        with sess.graph.as_default():
            seen.append(sess.run(tf.report_uninitialized_variables()).tolist())
        return real(sess, train_op, iterations_per_loop)

    monkeypatch.setattr(util, "set_iteration_per_loop", spy)
    cfg = npu_tiny()
    with loop._session(cfg, get_backend(cfg, 0, 1), 0) as run:
        assert run.steps_per_run == LOOP and run.step_op.name == "IterationOp"
        assert run.run_steps(LOOP)[3] == LOOP
    assert seen == [[]]


def test_fine_tuning_restore_then_loop(npu_tiny, tiny_cfg, fake_bridge):
    source = tiny_cfg(run_name="source")
    loop.train_block(source, 4, get_backend(source))
    prefix = paths.ckpt_prefix(source.train_dir, 4)
    target = npu_tiny(run_name="target", restore_path=prefix)
    reader = tf.train.NewCheckpointReader(prefix)
    with loop._session(target, get_backend(target, 0, 1), 0) as run:
        with run.graph.as_default():  # the head (dense/) is excluded by default, the body restored
            body = [v for v in tf.trainable_variables() if not v.op.name.startswith("dense")]
        assert len(body) > 10
        for var in body:
            np.testing.assert_array_equal(
                run.sess.run(var), reader.get_tensor(var.op.name), err_msg=var.op.name
            )
        assert run.run_steps(LOOP)[3] == LOOP
    assert _device_loops() == [LOOP]


def test_benchmark_counts_the_images_of_every_device_loop(npu_tiny, fake_bridge):
    cfg = npu_tiny()
    result = benchmark.run(cfg, get_backend(cfg, 0, 1), "train", "synthetic", warmup=1, steps=2)
    assert result["images_per_step"] == cfg.batch_size * LOOP and result["steps"] == 2
    assert _device_loops() == [LOOP] * 3


def test_evaluation_and_export_of_an_npu_checkpoint(npu_tiny, fake_bridge, tmp_path):
    cfg = npu_tiny(max_train_steps=LOOP)
    loop.train_block(cfg, LOOP, get_backend(cfg, 0, 1))
    prefix = paths.ckpt_prefix(cfg.train_dir, LOOP)
    result = evaluate(cfg, prefix)
    assert result["num_images"] == 40 and 0.0 <= result["top1"] <= 1.0
    assert np.isfinite(result["loss"])
    record = export(cfg, prefix, str(tmp_path / "export"))
    assert record["max_abs_diff_logits"] < 1e-4
