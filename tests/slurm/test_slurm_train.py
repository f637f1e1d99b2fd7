"""`resnext train` with launcher slurm on the two-node test cluster: one srun step of 2 nodes x 2
ranks trains what the local launcher's 4 ranks train; a killed rank stops the step on both nodes;
a step that does not match rank_size or block order is refused before TensorFlow starts."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from resnext import checkpoints, paths
from resnext.config import load_config
from support.paths import DEMO_CONFIG, ROOT, TINY

pytestmark = pytest.mark.slurm

# the BN-free tiny model (batch-norm statistics stay per rank, so only it is equal across rank
# layouts): 4 ranks x batch 8 on 120 digits, one block of 2 steps
NOBN = dict(
    TINY,
    arch="resnext_tiny_nobn",
    rank_size=4,
    max_train_steps=2,
    checkpoint_every_steps=2,
    iterations_per_loop=1,
    rank_timeout_s=300,
)


def _config(tmp_path, digits_data, name, **changes):
    """A config file of the 4-rank tiny run `name` under tmp_path/results; -> (path, cfg)."""
    values = dict(NOBN, data_url=digits_data, results_dir=str(tmp_path / "results"), run_name=name)
    values.update(changes)
    cfg = load_config([DEMO_CONFIG], values=values)
    path = tmp_path / (name + ".yaml")
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=True))
    return str(path), cfg


def _env():
    return dict(
        os.environ,
        PYTHONPATH=os.path.join(ROOT, "src"),
        TF_CPP_MIN_LOG_LEVEL="2",
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
    )


def _train_argv(path, until, command="train"):
    return [
        sys.executable,
        "-m",
        "resnext.cli",
        command,
        "--config",
        path,
        "--until-step",
        str(until),
    ]


def _in_allocation(argv):
    """argv inside a 2-node, 4-task allocation (salloc runs it on node1, where it is called)."""
    return ["salloc", "--nodes=2", "--ntasks=4", "--cpus-per-task=1", "--quiet"] + argv


def _weights(cfg, step):
    from resnext.compat import tf

    reader = tf.train.load_checkpoint(paths.ckpt_prefix(cfg.train_dir, step))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def test_two_nodes_by_two_ranks_train_what_four_local_ranks_train(
    slurm_cluster, tmp_path, digits_data
):
    local_path, local = _config(tmp_path, digits_data, "local")
    slurm_path, slurm = _config(tmp_path, digits_data, "slurm", launcher="slurm")
    out = subprocess.run(
        _train_argv(local_path, 2),
        capture_output=True,
        text=True,
        env=_env(),
        cwd=str(tmp_path),
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    out = slurm_cluster.on(
        1, _in_allocation(_train_argv(slurm_path, 2)), env=_env(), cwd=tmp_path, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    logs = os.path.join(slurm.train_dir, "logs")
    nodes = {}
    for rank in range(4):
        text = open(os.path.join(logs, "rank-%d.log" % rank)).read()
        assert "rank %d/4: training block 1, steps 0 -> 2" % rank in text, text[-2000:]
        nodes[rank] = re.search(r"on node (node\d)", text).group(1)
    assert nodes == {0: "node1", 1: "node1", 2: "node2", 3: "node2"}
    a, b = _weights(local, 2), _weights(slurm, 2)
    assert set(a) == set(b) and len(a) > 10
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-5, atol=1e-6, err_msg=name)


def _ranks_of(config_path):
    """{SLURM_PROCID: (pid, SLURMD_NODENAME)} of the train-rank processes of this config, on any
    node (/proc shows every namespace's processes to root)."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            if b"train-rank" not in argv or config_path.encode() not in argv:
                continue
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
        except OSError:
            continue
        if b"SLURMD_NODENAME" not in env:  # srun itself (its argv holds the rank's)
            continue
        found[int(env[b"SLURM_PROCID"])] = (int(pid), env[b"SLURMD_NODENAME"].decode())
    return found


def _wait_for(condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out after %ds waiting for %s" % (timeout, what))


def _metrics_steps(cfg):
    path = os.path.join(cfg.train_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line)["step"] for line in f if line.strip().endswith("}")]


def test_a_rank_killed_on_node2_stops_the_step_on_both_nodes_and_a_rerun_resumes(
    slurm_cluster, tmp_path, digits_data
):
    """Block 1 (steps 0-2) is trained and saved; while the ranks train on towards step 400, rank 3
    (on node2) is SIGKILLed; a rerun of block 2 resumes from the checkpoint at step 2."""
    path, cfg = _config(tmp_path, digits_data, "kill", launcher="slurm", max_train_steps=400)
    first = slurm_cluster.on(1, _in_allocation(_train_argv(path, 2)), env=_env(), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    with open(str(tmp_path / "train.log"), "wb") as log:
        train = slurm_cluster.popen(
            1,
            _in_allocation(_train_argv(path, 400)),
            env=_env(),
            cwd=str(tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(lambda: 4 in _metrics_steps(cfg), 300, "step 4")
        ranks = _ranks_of(path)
        assert sorted(ranks) == [0, 1, 2, 3] and ranks[3][1] == "node2", ranks
        os.kill(ranks[3][0], signal.SIGKILL)
        killed = time.time()
        code = train.wait(timeout=60)
        took = time.time() - killed
    finally:
        if train.poll() is None:
            train.kill()
    said = (tmp_path / "train.log").read_text()
    assert code != 0 and took < 30, (code, took, said[-3000:])
    assert "rank 3 (on node2) failed" in said, said[-3000:]
    _wait_for(lambda: not _ranks_of(path), 15, "every rank of the step to end on both nodes")
    assert checkpoints.complete_steps(cfg.train_dir) == [2]
    again = slurm_cluster.on(1, _in_allocation(_train_argv(path, 4)), env=_env(), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    rank0 = open(os.path.join(cfg.train_dir, "logs", "rank-0.log")).read()
    assert "training block 2, steps 2 -> 4" in rank0, rank0[-2000:]
    assert checkpoints.latest_step(cfg.train_dir) == 4


_NO_TF = (
    "import sys; from resnext import cli; rc = cli.main(sys.argv[1:]); "
    "print('TF' if 'tensorflow' in sys.modules else 'noTF', flush=True); sys.exit(rc)"
)


@pytest.mark.parametrize(
    "srun, refusal",
    [
        (["-N2", "-n2"], "SLURM_NTASKS=2 tasks but rank_size is 4"),
        (["-N2", "-n4", "--distribution=cyclic"], "SLURM_DISTRIBUTION=cyclic but the ranks are"),
    ],
)
def test_a_step_unlike_the_config_is_refused_by_every_rank_before_tensorflow(
    slurm_cluster, tmp_path, digits_data, srun, refusal
):
    path, _ = _config(tmp_path, digits_data, "refused", launcher="slurm")
    argv = (
        ["srun", "-l"]
        + srun
        + [sys.executable, "-c", _NO_TF, "train-rank", "--config", path, "--until-step", "2"]
    )
    out = slurm_cluster.on(1, argv, env=_env(), cwd=tmp_path, timeout=120)
    assert out.returncode != 0
    tasks = int(srun[1][2:])
    said = sorted(out.stdout.split())
    assert said == sorted(["%d:" % t for t in range(tasks)] + ["noTF"] * tasks), out.stdout
    for task in range(tasks):
        lines = [ln for ln in out.stderr.splitlines() if ln.startswith("%d: " % task)]
        assert len(lines) == 1 and refusal in lines[0], out.stderr


def test_an_allocation_of_another_size_is_refused_before_any_rank_starts(
    slurm_cluster, tmp_path, digits_data
):
    path, cfg = _config(tmp_path, digits_data, "small", launcher="slurm")
    argv = ["salloc", "--nodes=2", "--ntasks=2", "--quiet"] + _train_argv(path, 2)
    out = slurm_cluster.on(1, argv, env=_env(), cwd=tmp_path, timeout=120)
    assert out.returncode == 2, out.stderr
    errors = [ln for ln in out.stderr.splitlines() if " ERROR " in ln]
    assert len(errors) == 1 and "SLURM_NTASKS=2 tasks but rank_size is 4" in errors[0], out.stderr
    assert not os.path.exists(os.path.join(cfg.train_dir, "logs"))


FAKE_HCCN_TOOL = """#!/bin/sh
# hccn_tool -i <dev> -ip -g, as the Ascend driver prints it: one NIC subnet per device, the host
# part from the node (tests/test_ranktable.py parses the same form)
node=$(hostname | tr -dc 0-9)
echo "ipaddr:192.168.10$2.$node"
echo "netmask:255.255.255.0"
"""


def test_an_npu_jobs_rank_table_is_built_from_the_step_nodes(slurm_cluster, tmp_path):
    """backend npu: before the ranks start, one srun step of the same shape reports each task's
    node IP and device NIC IP; the table lists the step's two nodes in rank order."""
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "hccn_tool").write_text(FAKE_HCCN_TOOL)
    (tools / "hccn_tool").chmod(0o755)
    values = dict(
        launcher="slurm",
        backend="npu",
        rank_size=4,
        npu_device_ids=[4, 5, 6, 7],
        precision_mode="allow_mix_precision",
        results_dir=str(tmp_path / "results"),
    )
    cfg = load_config([DEMO_CONFIG], values=values)
    path = tmp_path / "npu.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=True))
    code = (
        "import sys; from resnext.config import load_config; from resnext.train import "
        "slurmstep; print(slurmstep.npu_table(load_config([sys.argv[1]]), sys.argv[1]))"
    )
    env = dict(_env(), PATH=str(tools) + os.pathsep + _env()["PATH"])
    env.pop("RANK_TABLE_FILE", None)
    out = slurm_cluster.on(
        1, _in_allocation([sys.executable, "-c", code, str(path)]), env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-3000:]
    table = json.loads(open(out.stdout.strip().splitlines()[-1]).read())
    assert table["server_list"] == [
        {
            "server_id": "10.77.0.%d" % n,
            "device": [
                {
                    "rank_id": str(2 * (n - 1) + k),
                    "device_id": str(4 + k),
                    "device_ip": "192.168.10%d.%d" % (4 + k, n),
                }
                for k in (0, 1)
            ],
        }
        for n in (1, 2)
    ]
