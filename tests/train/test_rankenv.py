"""A rank's environment: the local launcher's placements, SLURM's step environment, the devices."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from resnext.config import ConfigError, load_config
from resnext.train import rankenv
from support.paths import DEMO_CONFIG, ROOT

# what srun sets in each task of `srun -N2 -n4 --distribution=block --resv-ports=4 -c1`
# (tests/slurm/test_slurm_cluster.py sees the same layout on the test cluster)
STEP = {
    "SLURM_NTASKS": "4",
    "SLURM_STEP_NODELIST": "node[1-2]",
    "SLURM_STEP_TASKS_PER_NODE": "2(x2)",
    "SLURM_STEP_RESV_PORTS": "20010-20013",
    "SLURM_DISTRIBUTION": "block",
    "SLURM_CPUS_PER_TASK": "1",
    "SLURM_JOB_ID": "7",
}
TASKS = [("node1", 0), ("node1", 1), ("node2", 0), ("node2", 1)]


def _cfg(*overrides):
    return load_config([DEMO_CONFIG], ["launcher=slurm", "rank_size=4"] + list(overrides))


def _task(rank, **changes):
    node, local = TASKS[rank]
    env = dict(STEP, SLURM_PROCID=str(rank), SLURM_LOCALID=str(local), SLURMD_NODENAME=node)
    env.update(changes)
    return env


def _hostnames(nodelist):
    return {"node[1-2]": ["node1", "node2"], "node[2,10]": ["node2", "node10"]}[nodelist]


@pytest.fixture
def slurm_conf(tmp_path, monkeypatch):
    """A slurm.conf that lets the real `scontrol show hostnames` run (it expands locally)."""
    if shutil.which("scontrol") is None:
        pytest.skip("scontrol is not installed (`make slurm-tools` installs slurm-wlm)")
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=unit\nSlurmctldHost=localhost\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))


def test_tasks_per_node_and_ports_expand_as_slurm_writes_them():
    assert rankenv.expand_tasks_per_node("2(x2)") == [2, 2]
    assert rankenv.expand_tasks_per_node("3(x2),1") == [3, 3, 1]
    assert rankenv.expand_tasks_per_node("4") == [4]
    assert rankenv.parse_ports("20000-20002,20005") == [20000, 20001, 20002, 20005]
    with pytest.raises(ConfigError, match="SLURM_STEP_TASKS_PER_NODE='2x2'"):
        rankenv.expand_tasks_per_node("2x2")
    with pytest.raises(ConfigError, match="SLURM_STEP_RESV_PORTS=''"):
        rankenv.parse_ports("")


def test_scontrol_keeps_slurms_node_order(slurm_conf):
    assert rankenv.scontrol_hostnames("node[2,10]") == ["node2", "node10"]  # not sorted as text
    assert rankenv.scontrol_hostnames("node[1-2],gpu07") == ["node1", "node2", "gpu07"]


def test_every_rank_of_two_nodes_derives_the_same_cluster_and_its_own_entry():
    cfg = _cfg()
    hosts = ["node1:20010", "node1:20011", "node2:20010", "node2:20011"]
    for rank, (node, local) in enumerate(TASKS):
        placement = rankenv.slurm_placement(cfg, _task(rank), _hostnames)
        assert placement == rankenv.Placement(rank, 4, local, hosts, 1)
        env = rankenv.rank_env(placement, rankenv.device_env(cfg), base={})
        assert (env["RANK_ID"], env["RANK_SIZE"], env["DEVICE_ID"]) == (str(rank), "4", str(local))
        assert json.loads(env["RESNEXT_CLUSTER"]) == hosts


def test_node_order_is_slurms_not_text_order():
    env = _task(0, SLURM_STEP_NODELIST="node[2,10]", SLURMD_NODENAME="node2")
    placement = rankenv.slurm_placement(_cfg(), env, _hostnames)
    assert placement.hosts[:2] == ["node2:20010", "node2:20011"]


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"SLURM_NTASKS": "2", "SLURM_STEP_TASKS_PER_NODE": "1(x2)"},
            "SLURM_NTASKS=2 tasks but rank_size is 4",
        ),
        ({"SLURM_DISTRIBUTION": "cyclic"}, "SLURM_DISTRIBUTION=cyclic but the ranks are numbered"),
        ({"SLURM_DISTRIBUTION": "plane=2"}, "SLURM_DISTRIBUTION=plane=2"),
        ({"SLURM_STEP_TASKS_PER_NODE": "3,1"}, None),  # rank 1 on node1 still: fine
        ({"SLURM_STEP_TASKS_PER_NODE": "2"}, "does not give 4 tasks on the 2 node"),
        ({"SLURM_STEP_RESV_PORTS": "20010"}, "holds 1 port.s. but a node runs 2 ranks"),
        ({"SLURM_STEP_RESV_PORTS": ""}, "SLURM_STEP_RESV_PORTS is not set"),
        ({"SLURMD_NODENAME": "node2"}, "rank 1 on node1 as local task 1 but SLURM ran it on node2"),
        (
            {"SLURM_LOCALID": "0"},
            "task 1 but SLURM ran it on node1 .SLURMD_NODENAME. as local task 0",
        ),
        ({"SLURM_PROCID": "x"}, "SLURM_PROCID='x' is not an integer"),
    ],
)
def test_a_step_that_does_not_match_is_refused_naming_both_values(change, message):
    env = _task(1, **change)
    if message is None:
        assert rankenv.slurm_placement(_cfg(), env, _hostnames).rank == 1
        return
    with pytest.raises(ConfigError, match=message):
        rankenv.slurm_placement(_cfg(), env, _hostnames)


def test_a_cyclic_step_is_refused_even_without_slurm_distribution():
    # srun -m cyclic: rank 1 runs on node2; its entry in block order is on node1
    env = _task(1, SLURMD_NODENAME="node2", SLURM_LOCALID="0")
    del env["SLURM_DISTRIBUTION"]
    with pytest.raises(ConfigError, match="rank 1 on node1 .* on node2"):
        rankenv.slurm_placement(_cfg(), env, _hostnames)


def test_outside_a_step_the_missing_variable_is_named():
    with pytest.raises(ConfigError, match="SLURM_NTASKS is not set: this rank was not started"):
        rankenv.slurm_placement(_cfg(), {}, _hostnames)


def test_an_allocation_of_another_size_is_refused_by_the_launcher():
    rankenv.check_allocation(_cfg(), {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"})
    rankenv.check_allocation(_cfg(), {})  # no allocation: srun makes its own
    rankenv.check_allocation(_cfg(), {"SLURM_JOB_ID": "7"})  # jobstep plugin strips SLURM_NTASKS
    with pytest.raises(ConfigError, match="job 7.*SLURM_NTASKS=2 tasks but rank_size is 4"):
        rankenv.check_allocation(_cfg(), {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "2"})


def test_join_sets_the_env_and_threads_from_the_allocation(monkeypatch):
    monkeypatch.setattr(rankenv, "scontrol_hostnames", _hostnames)
    environ = _task(3, SLURM_CPUS_PER_TASK="2")
    cfg, rank, size = rankenv.join(_cfg("threads_per_rank=0"), environ)
    assert (rank, size, cfg.threads_per_rank) == (3, 4, 2)
    assert environ["DEVICE_ID"] == "1"
    assert json.loads(environ["RESNEXT_CLUSTER"])[3] == "node2:20011"


def test_join_under_the_local_launcher_reads_what_the_launcher_set():
    cfg = load_config([DEMO_CONFIG], ["rank_size=2"])
    assert rankenv.join(cfg, {"RANK_ID": "1", "RANK_SIZE": "2"})[1:] == (1, 2)


def test_local_placements_keep_device_equal_to_rank_and_distinct_ports():
    cfg = load_config([DEMO_CONFIG], ["rank_size=3"])
    placements = rankenv.local_placements(cfg)
    assert [(p.rank, p.local_id, p.size) for p in placements] == [(0, 0, 3), (1, 1, 3), (2, 2, 3)]
    assert len(set(placements[0].hosts)) == 3 and placements[0].hosts == placements[2].hosts
    hosts = ["a:1", "a:2", "b:1"]
    cfg = load_config([DEMO_CONFIG], ["rank_size=3", "hosts=%s" % hosts])
    given = rankenv.local_placements(cfg)
    assert given[2].hosts == hosts


def test_gpu_ranks_take_the_local_id_th_visible_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    device = rankenv.device_env(load_config([DEMO_CONFIG], ["backend=gpu", "rank_size=4"]))
    assert device(rankenv.Placement(3, 4, 1, [], None)) == {"CUDA_VISIBLE_DEVICES": "5"}
    assert device(rankenv.Placement(2, 4, 0, [], None)) == {"CUDA_VISIBLE_DEVICES": "3"}


def test_hosts_and_launcher_slurm_are_refused_together():
    with pytest.raises(ConfigError, match="hosts is for launcher local"):
        _cfg("hosts=[a:1, a:2, b:1, b:2]")


def test_train_rank_refuses_a_mismatched_step_before_tensorflow_is_imported(tmp_path):
    """The refusal is one line, exit 2, and TensorFlow was never imported."""
    config = tmp_path / "c.yaml"
    config.write_text("launcher: slurm\nrank_size: 4\n")
    code = (
        "import sys; from resnext import cli; rc = cli.main(sys.argv[1:]); "
        "print('TF' if 'tensorflow' in sys.modules else 'noTF'); sys.exit(rc)"
    )
    env = dict(
        os.environ, PYTHONPATH=os.path.join(ROOT, "src"), **_task(1, SLURM_DISTRIBUTION="cyclic")
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "train-rank", "--config", str(config), "--until-step", "4"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2 and out.stdout.strip() == "noTF", out.stderr
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "SLURM_DISTRIBUTION=cyclic" in errors[0], out.stderr


# ---- NPU under SLURM: the rank table of the step's nodes ----------------------------------------


def _fake_hccn_tool(node):
    """hccn_tool -i <dev> -ip -g as the Ascend driver prints it (tests/test_ranktable.py), one
    NIC subnet per device, one host address per node."""

    def run(argv, **kwargs):
        assert argv[:2] == ["hccn_tool", "-i"] and argv[3:] == ["-ip", "-g"]
        return ("ipaddr:192.168.10%s.%d\nnetmask:255.255.255.0\n" % (argv[2], node)).encode()

    return run


def _npu_cfg(*overrides):
    return load_config(
        [DEMO_CONFIG],
        ["backend=npu", "launcher=slurm", "rank_size=4", "precision_mode=allow_mix_precision"]
        + list(overrides),
    )


def _entries(cfg):
    """What the 4 tasks of a 2 x 2 step report (`resnext ranktable --slurm-entry`)."""
    out = []
    for rank, (node, local) in enumerate(TASKS):
        n = int(node[-1])
        placement = rankenv.Placement(rank, 4, local, [], None)
        out.append(
            rankenv.slurm_table_entry(
                cfg,
                placement,
                node_ip="10.77.0.%d" % n,
                conf_path="/nonexistent",
                run=_fake_hccn_tool(n),
            )
        )
    return out


def test_each_task_reports_its_node_and_its_devices_nic():
    assert _entries(_npu_cfg())[3] == {
        "rank": 3,
        "server_id": "10.77.0.2",
        "device_id": 1,
        "device_ip": "192.168.101.2",
    }
    entry = _entries(_npu_cfg("npu_device_ids=[4, 5, 6, 7]"))[1]
    assert (entry["device_id"], entry["device_ip"]) == (5, "192.168.105.1")


def test_the_step_table_gives_each_rank_the_env_the_local_launcher_gives(tmp_path):
    cfg = _npu_cfg()
    entries = _entries(cfg)
    table = rankenv.slurm_table(cfg, list(reversed(entries)))  # tasks report in any order
    assert [s["server_id"] for s in table["server_list"]] == ["10.77.0.1", "10.77.0.2"]
    path = str(tmp_path / "rank_table.json")
    servers = [
        {
            "server_id": "10.77.0.%d" % n,
            "device_ids": [0, 1],
            "device_ips": ["192.168.100.%d" % n, "192.168.101.%d" % n],
        }
        for n in (1, 2)
    ]
    local = rankenv.npu_env(
        load_config(
            [DEMO_CONFIG],
            [
                "backend=npu",
                "rank_size=4",
                "precision_mode=allow_mix_precision",
                "npu_servers=%s" % json.dumps(servers),
            ],
        ),
        path,
    )
    for rank in range(4):
        assert rankenv.npu_rank_env(cfg, rank, table, path) == local(rank)


def test_a_step_table_with_a_rank_missing_or_out_of_block_order_is_refused():
    cfg = _npu_cfg()
    entries = _entries(cfg)
    with pytest.raises(ConfigError, match=r"reported ranks \[0, 1, 2\], not 0..3"):
        rankenv.slurm_table(cfg, entries[:3])
    swapped = [dict(e) for e in entries]
    swapped[1]["server_id"], swapped[2]["server_id"] = "10.77.0.2", "10.77.0.1"
    with pytest.raises(ConfigError, match="server 10.77.0.1 holds ranks that are not consecutive"):
        rankenv.slurm_table(cfg, swapped)


def test_a_node_with_more_ranks_than_devices_is_refused():
    cfg = _npu_cfg("npu_device_ids=[0]")
    with pytest.raises(ConfigError, match="a node runs 2 ranks but npu_device_ids lists 1"):
        _entries(cfg)


def test_an_npu_rank_refuses_a_table_that_gives_it_another_device(tmp_path, monkeypatch):
    cfg = _npu_cfg()
    table = rankenv.slurm_table(cfg, _entries(cfg))
    table["server_list"][1]["device"][0]["device_id"] = "3"  # rank 2 -> device 3, SLURM: local 0
    path = tmp_path / "table.json"
    path.write_text(json.dumps(table))
    monkeypatch.setattr(rankenv, "scontrol_hostnames", _hostnames)
    environ = _task(2, RANK_TABLE_FILE=str(path))
    monkeypatch.setenv("RANK_TABLE_FILE", str(path))
    with pytest.raises(ConfigError, match="gives rank 2 device 3 but SLURM runs it as local task"):
        rankenv.join(cfg, environ)
    environ = _task(3, RANK_TABLE_FILE=str(path))
    assert rankenv.join(cfg, environ)[1:] == (3, 4) and environ["DEVICE_ID"] == "1"
    assert environ["RANK_TABLE_FILE"] == str(path) and environ["JOB_ID"] == str(cfg.npu_job_id)
