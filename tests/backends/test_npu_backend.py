"""Contract tests of backends/npu.py against the recording npu_bridge fake (tests/fakes).

They show that the backend calls the documented session-mode API with the documented arguments,
in the documented order. They do not show that anything runs on an NPU.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from tensorflow.core.protobuf.rewriter_config_pb2 import RewriterConfig

from backend_helpers import FAKES
from resnext.backends import get_backend
from resnext.compat import tf
from resnext.config import ConfigError
from resnext.train.step import build_train_graph
from support.npu import SERVERS, npu_config
from support.paths import DEMO_CONFIG, ROOT

EXPECTED_PARAMS = {  # key -> (proto field, value) for the training config of npu_cfg
    "use_off_line": ("b", True),
    "precision_mode": ("s", b"allow_mix_precision"),
    "iterations_per_loop": ("i", 5),
    "hcom_parallel": ("b", True),
    "enable_data_pre_proc": ("b", True),
    "mix_compile_mode": ("b", False),
    "graph_run_mode": ("i", 1),
}


def _train_graph(cfg, backend):
    """A tiny train graph + the broadcast op, as loop.py builds them; -> (graph, TrainGraph, op)."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.random_uniform([cfg.batch_size, cfg.image_size, cfg.image_size, 3], seed=1)
        labels = tf.random_uniform([cfg.batch_size], 0, cfg.num_classes, tf.int32, seed=2)
        ops = build_train_graph(cfg, images, labels, backend)
        broadcast = backend.broadcast_variables_op()
    return graph, ops, broadcast


def _npu_optimizer(config):
    customs = config.graph_options.rewrite_options.custom_optimizers
    assert [c.name for c in customs] == ["NpuOptimizer"]
    return customs[0]


# ---- (a) session config ---------------------------------------------------------------------


def test_session_config_sets_every_documented_npu_option(fake_bridge, npu_cfg, table_path):
    config = get_backend(npu_cfg, 0, 8).session_config()
    params = _npu_optimizer(config).parameter_map
    assert sorted(params.keys()) == sorted(EXPECTED_PARAMS)
    for key, (field, value) in EXPECTED_PARAMS.items():
        assert params[key].WhichOneof("value") == field, key
        assert getattr(params[key], field) == value, key
    rewrite = config.graph_options.rewrite_options
    assert rewrite.remapping == RewriterConfig.OFF
    assert rewrite.memory_optimization == RewriterConfig.NO_MEM_OPT  # really off (not MANUAL)
    assert config.allow_soft_placement and not config.log_device_placement


def test_inference_config_is_online_inference(fake_bridge, npu_cfg, table_path):
    from resnext.backends.npu import inference_config

    params = _npu_optimizer(inference_config(npu_cfg)).parameter_map
    assert params["graph_run_mode"].i == 0 and params["iterations_per_loop"].i == 1
    assert params["enable_data_pre_proc"].b is False and params["use_off_line"].b is True


@pytest.mark.parametrize(
    "ours, npu",
    [
        ("fp32", b"force_fp32"),
        ("allow_fp32_to_fp16", b"allow_fp32_to_fp16"),
        ("must_keep_origin_dtype", b"must_keep_origin_dtype"),
    ],
)
def test_precision_mode_mapping(fake_bridge, tmp_path, ours, npu):
    backend = get_backend(npu_config(tmp_path, "precision_mode=" + ours, "rank_size=1"), 0, 1)
    assert _npu_optimizer(backend.session_config()).parameter_map["precision_mode"].s == npu
    assert backend.compute_dtype(backend.cfg) == tf.float32 and backend.session_target() == ""


@pytest.mark.parametrize("mode", ["fp16", "bf16"])
def test_gpu_and_cpu_precision_modes_are_refused(fake_bridge, tmp_path, mode):
    with pytest.raises(ConfigError, match="precision_mode"):
        get_backend(npu_config(tmp_path, "precision_mode=" + mode, "rank_size=1"), 0, 1)


def test_dynamic_loss_scale_is_refused(fake_bridge, tmp_path):
    with pytest.raises(ConfigError, match="loss_scale 'dynamic' is not supported on backend npu"):
        get_backend(npu_config(tmp_path, "loss_scale=dynamic", "rank_size=1"), 0, 1)


def test_several_ranks_need_a_rank_table(fake_bridge, npu_cfg, monkeypatch):
    monkeypatch.delenv("RANK_TABLE_FILE", raising=False)
    with pytest.raises(ConfigError, match="RANK_TABLE_FILE"):
        get_backend(npu_cfg, 0, 8)


# ---- (b) gradient averaging -----------------------------------------------------------------


def test_gradients_averaged_with_one_fused_hccl_allreduce_each(fake_bridge, npu_cfg, table_path):
    backend = get_backend(npu_cfg, 0, 8)
    graph, ops, _ = _train_graph(npu_cfg, backend)
    with graph.as_default():
        n_grads = len(tf.trainable_variables())
    reduces = fake_bridge.calls("hccl_ops.allreduce")
    grads = [c for c in reduces if c["fusion"] == 1]
    scalars = [c for c in reduces if c["fusion"] == 0]
    assert len(grads) == n_grads and len(scalars) == 2  # every gradient; loss and total_loss
    assert all(c["reduction"] == "sum" and c["group"] == "hccl_world_group" for c in reduces)
    # the optimizer is not wrapped: NPUDistributedOptimizer.compute_gradients would never run
    assert not fake_bridge.calls("npu_optimizer.NPUDistributedOptimizer")
    opt = object()
    assert backend.wrap_optimizer(opt) is opt


def test_averaged_gradient_is_the_sum_over_eight_ranks_divided_by_eight(
    fake_bridge, npu_cfg, table_path
):
    backend = get_backend(npu_cfg, 0, 8)
    with tf.Graph().as_default():
        grad = tf.constant([8.0, 16.0]) * 1.0
        var = tf.get_variable("v", [2])
        ((averaged, same_var),) = backend.average_gradients([(grad, var)])
        with tf.Session() as sess:  # the fake's sum over the group is this rank's value
            np.testing.assert_allclose(sess.run(averaged), [1.0, 2.0])
    assert same_var is var


def test_one_rank_issues_no_collectives(fake_bridge, tmp_path):
    cfg = npu_config(tmp_path, "rank_size=1")
    backend = get_backend(cfg, 0, 1)
    _, _, broadcast = _train_graph(cfg, backend)
    assert broadcast is None and not fake_bridge.calls("hccl_ops.allreduce")


# ---- (c) broadcast of initial values --------------------------------------------------------


def test_every_global_float_variable_broadcast_from_rank0(fake_bridge, npu_cfg, table_path):
    backend = get_backend(npu_cfg, 3, 8)
    graph, _, broadcast = _train_graph(npu_cfg, backend)
    with graph.as_default():
        floats = {v.op.name for v in tf.global_variables() if v.dtype.base_dtype == tf.float32}
    calls = fake_bridge.calls("hccl_ops.broadcast")
    assert all(
        c["root_rank"] == 0 and isinstance(c["tensor"], list) and len(c["tensor"]) == 1
        for c in calls
    )
    sent = {c["tensor"][0].op.name for c in calls}
    assert sent == floats
    assert any("Momentum" in n for n in sent) and any("moving_" in n for n in sent)
    assert broadcast.name == "broadcast_variables" and len(broadcast.control_inputs) == len(floats)
    assert {op.type for op in broadcast.control_inputs} <= {"Assign", "AssignVariableOp"}
    with tf.Session(
        graph=graph
    ) as sess:  # builds and runs; the fake broadcast returns this rank's values
        sess.run(tf.group(tf.global_variables_initializer(), tf.local_variables_initializer()))
        sess.run(broadcast)


# ---- (d) the on-device loop, in loop.py's order -----------------------------------------------


def _synthetic_dataset(cfg, rank, rank_size, seed_offset=0):
    images = tf.random_uniform([cfg.batch_size, cfg.image_size, cfg.image_size, 3], seed=3)
    labels = tf.zeros([cfg.batch_size], tf.int32)
    return tf.data.Dataset.from_tensors((images, labels)).repeat()


def test_set_iteration_per_loop_called_once_after_initialisation(
    fake_bridge, npu_cfg, table_path, monkeypatch
):
    from resnext.train import loop

    monkeypatch.setattr(loop.pipeline, "train_dataset", _synthetic_dataset)
    run = loop._Session(
        npu_cfg, get_backend(npu_cfg, 0, 8), 0
    )  # init, restore, broadcast, iterator, loop_op
    calls = fake_bridge.calls("util.set_iteration_per_loop")
    assert len(calls) == 1
    assert calls[0]["train_op"] is run.ops.train_op and calls[0]["sess"] is run.sess
    assert calls[0]["iterations_per_loop"] == npu_cfg.iterations_per_loop == run.steps_per_run
    assert run.step_op.name == "IterationOp"
    names = [name for name, _ in fake_bridge.CALLS]
    assert (
        names.index("util.set_iteration_per_loop") == len(names) - 1
    )  # after every graph-side call
    # the graph runs on CPU through the fake, whose device runs IterationOp 5 times per sess.run
    loss, _, _, step = run.run_steps(npu_cfg.iterations_per_loop)
    assert np.isfinite(loss) and step == run.sess.run(run.ops.global_step) == 5
    run.sess.close()


def test_loop_op_builds_its_counters_in_the_train_graph(fake_bridge, npu_cfg, table_path):
    """set_iteration_per_loop builds in the default graph: the backend enters the train op's graph,
    so a caller outside `with graph.as_default():` gets the loop, not TensorFlow's TypeError."""
    backend = get_backend(npu_cfg, 0, 8)
    graph, ops, _ = _train_graph(npu_cfg, backend)
    with tf.Session(graph=graph) as sess:
        sess.run(tf.group(*[v.initializer for v in graph.get_collection("variables")]))
        step_op, steps = backend.loop_op(sess, ops.train_op)
        counters = graph.get_collection("npu_runconfig_iterations_per_loop")
        assert step_op.graph is graph and steps == 5 and len(counters) == 1
        assert sess.run(counters[0]) == 4  # iterations_per_loop - 1, loaded through sess
        with pytest.raises(RuntimeError, match="already called"):
            backend.loop_op(sess, ops.train_op)
    with tf.Session(graph=tf.Graph()) as other, pytest.raises(RuntimeError, match="another graph"):
        backend.loop_op(other, ops.train_op)


def test_loop_op_is_identity_for_one_iteration(fake_bridge, tmp_path):
    cfg = npu_config(tmp_path, "rank_size=1", "iterations_per_loop=1")
    backend = get_backend(cfg, 0, 1)
    graph, ops, _ = _train_graph(cfg, backend)
    with tf.Session(graph=graph) as sess:
        assert backend.loop_op(sess, ops.train_op) == (ops.train_op, 1)


# ---- (e) per-rank environment from the rank table ---------------------------------------------


def test_device_env_of_rank3_comes_from_the_rank_table(fake_bridge, npu_cfg, table_path):
    env = get_backend(npu_cfg, 0, 8).device_env(3)
    assert env == {
        "RANK_ID": "3",
        "RANK_SIZE": "8",
        "DEVICE_ID": "7",
        "ASCEND_DEVICE_ID": "7",
        "RANK_TABLE_FILE": table_path,
        "JOB_ID": "10087",
        "HCCL_CONNECT_TIMEOUT": "600",
        "SOC_VERSION": "Ascend910",
    }
    assert get_backend(npu_cfg, 0, 8).device_env(4)["DEVICE_ID"] == "0"  # first device of server 2


def test_npu_env_writes_the_table_without_importing_npu_bridge(npu_cfg, tmp_path, monkeypatch):
    from resnext.train.rankenv import npu_env

    monkeypatch.delenv("RANK_TABLE_FILE", raising=False)
    cfg = npu_cfg.replace(npu_servers=SERVERS, npu_job_id="job-7")
    env_for = npu_env(cfg, str(tmp_path / "table.json"))
    assert env_for(5)["DEVICE_ID"] == "1" and env_for(5)["JOB_ID"] == "job-7"
    assert os.path.isfile(env_for(0)["RANK_TABLE_FILE"])
    assert "npu_bridge" not in sys.modules


def test_one_rank_gets_the_pool_device_and_no_table(tmp_path, monkeypatch):
    from resnext.train.rankenv import npu_env

    monkeypatch.setenv("ASCEND_DEVICE_ID", "6")
    env = npu_env(npu_config(tmp_path, "rank_size=1"))(0)
    assert env["DEVICE_ID"] == env["ASCEND_DEVICE_ID"] == "6" and "RANK_TABLE_FILE" not in env
    monkeypatch.delenv("ASCEND_DEVICE_ID")
    assert npu_env(npu_config(tmp_path, "rank_size=1"))(0)["DEVICE_ID"] == "0"


# ---- (f) npu_bridge is imported only for backend npu ------------------------------------------

ISOLATION_SCRIPT = r"""
import sys
sys.path[:0] = [%(src)r, %(fakes)r]
import resnext.backends.npu  # the module itself must not import npu_bridge
from resnext.backends import get_backend
from resnext.compat import tf
from resnext.config import load_config
from resnext.train.step import build_train_graph
cfg = load_config(%(config)r, ["arch=resnext_tiny", "image_size=32", "num_classes=10",
                               "batch_size=2"])
backend = get_backend(cfg, 0, 1)
with tf.Graph().as_default():
    build_train_graph(cfg, tf.zeros([2, 32, 32, 3]), tf.zeros([2], tf.int32), backend)
print("LOADED" if any(m.split(".")[0] == "npu_bridge" for m in sys.modules) else "ABSENT")
"""


def test_cpu_backend_and_train_graph_never_import_npu_bridge():
    script = ISOLATION_SCRIPT % {
        "src": os.path.join(ROOT, "src"),
        "fakes": FAKES,
        "config": DEMO_CONFIG,
    }
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert out.stdout.decode().strip().splitlines()[-1] == "ABSENT"  # importable, yet not imported


def test_npu_backend_imports_the_bridge(fake_bridge, tmp_path):
    del sys.modules["npu_bridge"]
    get_backend(npu_config(tmp_path, "rank_size=1"), 0, 1)
    assert sys.modules["npu_bridge"].FAKE and "npu_bridge.hccl.hccl_ops" in sys.modules
