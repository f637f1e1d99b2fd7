"""The test cluster itself: two nodes that SLURM schedules across,
and nothing left once it is down."""

import os
import subprocess

import pytest

from slurm_support import CLUSTER_SH, why_not

pytestmark = pytest.mark.slurm


def test_one_step_spans_both_nodes_in_block_order(slurm_cluster, tmp_path):
    out = slurm_cluster.on(
        1, ["srun", "-N2", "-n4", "-m", "block", "-l", "sh", "-c", "hostname"], cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    by_task = dict(line.split(": ", 1) for line in out.stdout.split("\n") if line)
    assert by_task == {"0": "node1", "1": "node1", "2": "node2", "3": "node2"}


def test_nodes_reach_each_other_on_their_own_addresses_only(slurm_cluster):
    listen = (
        "import socket,sys; s=socket.socket(); s.bind(('0.0.0.0', 24567)); s.listen(1); "
        "print('ready', flush=True); c, a = s.accept(); print(c.recv(9).decode(), a[0], flush=True)"
    )
    server = slurm_cluster.popen(1, ["python3", "-c", listen], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        send = (
            "import socket; "
            "socket.create_connection(('node1', 24567), timeout=10).sendall(b'over veth')"
        )
        assert slurm_cluster.on(2, ["python3", "-c", send]).returncode == 0
        assert server.stdout.readline().split() == ["over", "veth", "10.77.0.2"]
    finally:
        server.kill()
        server.wait()
    root_addrs = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert "10.77.0." not in root_addrs  # nothing was added to the root namespace


def _mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def test_down_stops_every_daemon_and_removes_the_namespaces(tmp_path):
    reason = why_not()
    if reason:
        pytest.skip(reason)
    root = str(tmp_path / "second")
    os.mkdir(root)
    up = subprocess.run([CLUSTER_SH, "up", root], capture_output=True, text=True, timeout=120)
    try:
        assert up.returncode == 0, up.stderr
        pids = []
        for name in ("munged", "slurmctld", "slurmd-node1", "slurmd-node2"):
            with open(os.path.join(root, "run", name + ".pid")) as f:
                pids.append(int(f.read()))
        net_inode = os.stat(os.path.join(root, "ns", "net2")).st_ino
        job = subprocess.Popen(
            [CLUSTER_SH, "on", "2", root, "sleep", "600"]
        )  # a process left on node 2
        assert len(_mounts_under(root)) == 7  # ns/ plus three pins per node
    finally:
        down = subprocess.run(
            [CLUSTER_SH, "down", root], capture_output=True, text=True, timeout=120
        )
    assert down.returncode == 0, down.stderr
    assert job.wait(timeout=10) != 0
    for pid in pids:
        assert not os.path.exists("/proc/%d" % pid), "daemon %d still runs" % pid
    assert _mounts_under(root) == []
    left = [
        p
        for p in os.listdir("/proc")
        if p.isdigit()
        and os.path.exists("/proc/%s/ns/net" % p)
        and _readlink("/proc/%s/ns/net" % p) == "net:[%d]" % net_inode
    ]
    assert left == []


def _readlink(path):
    try:
        return os.readlink(path)
    except OSError:
        return None


def test_up_refuses_a_folder_that_is_not_empty(tmp_path):
    if why_not():
        pytest.skip(why_not())
    (tmp_path / "keep.txt").write_text("mine")
    out = subprocess.run(
        [CLUSTER_SH, "up", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "is not empty" in out.stderr
    assert sorted(os.listdir(tmp_path)) == ["keep.txt"]
