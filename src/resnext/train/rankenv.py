"""A rank's environment, built in one place for every launcher x backend pair.

Two questions, answered apart:

- Where a rank runs, which depends on who starts it (`launcher`): a `Placement`. The local
  launcher plans every rank's placement itself (`local_placements`: free localhost ports, or
  `hosts`). Under SLURM one `srun` starts every rank and each rank derives its own placement from
  the step's environment (`slurm_placement`): the step's nodes in SLURM's order (`scontrol show
  hostnames`), times the tasks per node, in block order, ports from the step's reserved range.
- What a rank needs on its device, which depends on the backend (`device_env`): nothing more on
  CPU, its GPU (CUDA_VISIBLE_DEVICES) on GPU, the rank table's entry and the job's HCCL variables
  on NPU.

`rank_env` joins both into the variables a rank runs with: RANK_ID, RANK_SIZE, DEVICE_ID (the
seed's names), RESNEXT_CLUSTER (the ClusterSpec of TF's collectives: host:port per rank) and the
device's. The local launcher applies it to each process it starts; a SLURM rank applies it to its
own os.environ (`join`) before TensorFlow is imported, so a mismatch is refused before TF starts.
Runs in the Ascend container: Python 3.7, no TensorFlow.
"""

import collections
import json
import logging
import os
import re
import socket
import subprocess

from resnext import paths, ranktable
from resnext.config import ConfigError

log = logging.getLogger(__name__)

SOC_VERSION = "Ascend910"

Placement = collections.namedtuple("Placement", ["rank", "size", "local_id", "hosts", "threads"])
Placement.__doc__ = (
    "Where one rank runs: rank and size (int), local_id (int, its index among the ranks of its "
    "node: its device), hosts ([str] host:port of every rank), threads (int intra-op threads "
    "the allocation gives it, or None: threads_per_rank)."
)


# ---- who starts the ranks: the local launcher --------------------------------------------------


def free_ports(n):
    """n distinct free localhost TCP ports (bound then released)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def local_placements(cfg):
    """[Placement] of every rank the local launcher starts: cfg.hosts, else free localhost ports;
    rank r drives device r."""
    hosts = list(cfg.hosts) or ["127.0.0.1:%d" % p for p in free_ports(cfg.rank_size)]
    return [Placement(r, cfg.rank_size, r, hosts, None) for r in range(cfg.rank_size)]


# ---- who starts the ranks: SLURM's step environment ---------------------------------------------

_TASKS = re.compile(r"^(\d+)(?:\(x(\d+)\))?$")
_PORTS = re.compile(r"^(\d+)(?:-(\d+))?$")


def expand_tasks_per_node(text):
    """SLURM_STEP_TASKS_PER_NODE ("2(x2),1") -> tasks per node in node-list order ([2, 2, 1])."""
    counts = []
    for item in (text or "").split(","):
        match = _TASKS.match(item.strip())
        if not match:
            raise ConfigError(
                "launcher slurm: SLURM_STEP_TASKS_PER_NODE=%r is not a list like '2(x2),1'" % text
            )
        counts.extend([int(match.group(1))] * int(match.group(2) or 1))
    return counts


def parse_ports(text):
    """SLURM_STEP_RESV_PORTS ("20000-20002,20005") -> [20000, 20001, 20002, 20005]; SLURM
    reserves the same ports on every node of the step."""
    ports = []
    for item in (text or "").split(","):
        match = _PORTS.match(item.strip())
        if not match:
            raise ConfigError(
                "launcher slurm: SLURM_STEP_RESV_PORTS=%r is not a port range like "
                "'20000-20003' (srun --resv-ports gives one)" % text
            )
        first = int(match.group(1))
        ports.extend(range(first, int(match.group(2) or first) + 1))
    return ports


def scontrol_hostnames(nodelist, run=subprocess.check_output):
    """A SLURM host list ("node[1-2,10]") -> its host names in SLURM's own order, as `scontrol
    show hostnames` expands it (never sorted as text: node10 stays after node2)."""
    try:
        out = run(["scontrol", "show", "hostnames", nodelist], stderr=subprocess.PIPE)
    except OSError as exc:
        raise ConfigError(
            "launcher slurm: scontrol could not run (%s): run where SLURM's commands "
            "are on PATH" % exc
        )
    except subprocess.CalledProcessError as exc:
        said = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise ConfigError(
            "launcher slurm: `scontrol show hostnames %s` failed: %s (is slurm.conf "
            "where SLURM_CONF says?)" % (nodelist, said[-1] if said else exc)
        )
    text = out.decode("utf-8", "replace") if isinstance(out, bytes) else out
    return [line.strip() for line in text.splitlines() if line.strip()]


def block_layout(hosts, counts, ports):
    """Ranks in block order: [(host, local_id, "host:port")], rank r at index r. Node i holds the
    next counts[i] ranks; its k-th takes the k-th reserved port."""
    layout = []
    for host, count in zip(hosts, counts):
        layout.extend((host, k, "%s:%d" % (host, ports[k])) for k in range(count))
    return layout


def _refused(text, *args):
    """One-line refusal of a SLURM step that does not fit (ConfigError: exit 2, no traceback)."""
    return ConfigError("launcher slurm: " + text % args)


def _step_var(environ, name):
    value = environ.get(name)
    if value is None or value == "":
        raise _refused(
            "%s is not set: this rank was not started as a task of an srun step "
            "(`resnext train` with launcher slurm starts them)",
            name,
        )
    return value


def _int_var(environ, name):
    value = _step_var(environ, name)
    try:
        return int(value)
    except ValueError:
        raise ConfigError("launcher slurm: %s=%r is not an integer" % (name, value))


def _check_distribution(environ):
    """Ranks are numbered in block order; SLURM_DISTRIBUTION cyclic (or plane, arbitrary) puts
    them elsewhere. Only the node level (before ':') places ranks on nodes."""
    value = environ.get("SLURM_DISTRIBUTION", "")
    node_level = value.split(":")[0].split(",")[0]
    if node_level not in ("", "block"):
        raise _refused(
            "SLURM_DISTRIBUTION=%s but the ranks are numbered in block order "
            "(distribution block): start them with srun --distribution=block",
            value,
        )


def _layout_from_env(cfg, environ, hostnames):
    ntasks = _int_var(environ, "SLURM_NTASKS")
    if ntasks != cfg.rank_size:
        raise _refused(
            "the srun step has SLURM_NTASKS=%d tasks but rank_size is %d: make them "
            "equal (one task per rank)",
            ntasks,
            cfg.rank_size,
        )
    _check_distribution(environ)
    nodelist = _step_var(environ, "SLURM_STEP_NODELIST")
    hosts = hostnames(nodelist)
    counts = expand_tasks_per_node(_step_var(environ, "SLURM_STEP_TASKS_PER_NODE"))
    if len(counts) != len(hosts) or sum(counts) != ntasks:
        raise _refused(
            "SLURM_STEP_TASKS_PER_NODE=%s does not give %d tasks on the %d node(s) of "
            "SLURM_STEP_NODELIST=%s",
            environ["SLURM_STEP_TASKS_PER_NODE"],
            ntasks,
            len(hosts),
            nodelist,
        )
    ports = [0] * max(counts)
    if ntasks > 1:
        ports = parse_ports(_step_var(environ, "SLURM_STEP_RESV_PORTS"))
        if len(ports) < max(counts):
            raise _refused(
                "SLURM_STEP_RESV_PORTS=%s holds %d port(s) but a node runs %d ranks: "
                "srun --resv-ports=%d",
                environ["SLURM_STEP_RESV_PORTS"],
                len(ports),
                max(counts),
                max(counts),
            )
    return block_layout(hosts, counts, ports)


def slurm_placement(cfg, environ=None, hostnames=None):
    """This rank's Placement from srun's step environment (SLURM_PROCID, SLURM_LOCALID,
    SLURMD_NODENAME, SLURM_NTASKS, SLURM_STEP_NODELIST, SLURM_STEP_TASKS_PER_NODE,
    SLURM_STEP_RESV_PORTS, SLURM_CPUS_PER_TASK). ConfigError naming both values when the step
    does not match rank_size or block order, or this rank's entry is not where SLURM ran it."""
    environ = os.environ if environ is None else environ
    layout = _layout_from_env(cfg, environ, hostnames or scontrol_hostnames)
    rank, local_id = _int_var(environ, "SLURM_PROCID"), _int_var(environ, "SLURM_LOCALID")
    node = _step_var(environ, "SLURMD_NODENAME")
    if not 0 <= rank < len(layout):
        raise _refused("SLURM_PROCID=%d is not a rank 0..%d", rank, len(layout) - 1)
    host, expected_local, _ = layout[rank]
    if (host, expected_local) != (node, local_id):
        raise _refused(
            "block order puts rank %d on %s as local task %d but SLURM ran it on %s "
            "(SLURMD_NODENAME) as local task %d (SLURM_LOCALID): start the ranks with "
            "srun --distribution=block",
            rank,
            host,
            expected_local,
            node,
            local_id,
        )
    threads = environ.get("SLURM_CPUS_PER_TASK")
    return Placement(
        rank,
        len(layout),
        local_id,
        [entry[2] for entry in layout],
        int(threads) if threads and threads.isdigit() else None,
    )


def check_allocation(cfg, environ=None):
    """Launcher side, before srun: inside an allocation whose task count is known (SLURM_NTASKS of
    sbatch/salloc -n), it must equal rank_size."""
    environ = os.environ if environ is None else environ
    given = environ.get("SLURM_NTASKS")
    if environ.get("SLURM_JOB_ID") and given and given != str(cfg.rank_size):
        raise ConfigError(
            "launcher slurm: this allocation (job %s) has SLURM_NTASKS=%s tasks but "
            "rank_size is %d: allocate one task per rank (sbatch --ntasks=%d)"
            % (environ["SLURM_JOB_ID"], given, cfg.rank_size, cfg.rank_size)
        )


# ---- what each rank needs: its device ------------------------------------------------------------


def device_env(cfg):
    """-> function(Placement) -> the backend's variables for that rank. NPU resolves (or writes)
    the rank table once, here, without importing npu_bridge."""
    if cfg.backend == "npu":
        for_rank = npu_env(cfg)
        return lambda placement: for_rank(placement.rank)
    if cfg.backend == "gpu":  # the local_id-th GPU this process may use (preflight counted them)
        from resnext.train.preflight import visible_gpus

        visible = visible_gpus()

        def gpu(placement):
            k = placement.local_id
            return {"CUDA_VISIBLE_DEVICES": visible[k] if visible and k < len(visible) else str(k)}

        return gpu
    return lambda placement: {}


def npu_rank_env(cfg, rank, table, table_path):
    """NPU env of rank `rank`: the rank table's entry plus the job-wide NPU variables."""
    env = ranktable.rank_env(table, rank)
    env.update(
        {
            "RANK_TABLE_FILE": table_path,
            "JOB_ID": str(cfg.npu_job_id),
            "HCCL_CONNECT_TIMEOUT": str(cfg.hccl_connect_timeout_s),
            "SOC_VERSION": SOC_VERSION,
        }
    )
    return env


def npu_env(cfg, table_path=None):
    """-> function(rank) -> NPU env. One rank: just the device (the one `resnext with-device` chose,
    else the first of npu_device_ids) and no table, so HCCL stays off."""
    if cfg.rank_size == 1:
        first = list(cfg.npu_device_ids)[0]
        dev = os.environ.get("ASCEND_DEVICE_ID") or str(first)
        single = {
            "DEVICE_ID": dev,
            "ASCEND_DEVICE_ID": dev,
            "SOC_VERSION": SOC_VERSION,
            "JOB_ID": str(cfg.npu_job_id),
        }
        return lambda rank: dict(single)
    path = ranktable.prepare(cfg, table_path or paths.rank_table(cfg.train_dir))
    table = ranktable.load_table(path, cfg.rank_size)
    return lambda rank: npu_rank_env(cfg, rank, table, path)


# ---- NPU under SLURM: the rank table of the step's nodes, built at job start ---------------


def slurm_table_entry(
    cfg, placement, node_ip=None, conf_path="/etc/hccn.conf", run=subprocess.check_output
):
    """This task's rank-table entry {rank, server_id, device_id, device_ip}: its node's IP, the
    local_id-th of npu_device_ids and that device's NIC IP (/etc/hccn.conf or hccn_tool, as
    `resnext ranktable --discover` finds them)."""
    ids = list(cfg.npu_device_ids)
    if placement.local_id >= len(ids):
        raise _refused(
            "a node runs %d ranks but npu_device_ids lists %d device(s)",
            placement.local_id + 1,
            len(ids),
        )
    server = ranktable.host_servers(
        [ids[placement.local_id]], server_id=node_ip, conf_path=conf_path, run=run
    )[0]
    return {
        "rank": placement.rank,
        "server_id": server["server_id"],
        "device_id": ids[placement.local_id],
        "device_ip": server["device_ips"][0],
    }


def slurm_table(cfg, entries):
    """Every task's slurm_table_entry (any order) -> the rank table (rank_table_format) of the
    step's nodes: servers in rank order, so the table numbers ranks as the step does."""
    entries = sorted(entries, key=lambda e: int(e["rank"]))
    if [int(e["rank"]) for e in entries] != list(range(cfg.rank_size)):
        raise _refused(
            "the rank table step reported ranks %s, not 0..%d",
            [int(e["rank"]) for e in entries],
            cfg.rank_size - 1,
        )
    servers = collections.OrderedDict()
    for e in entries:
        if e["server_id"] in servers and list(servers)[-1] != e["server_id"]:
            raise _refused(
                "server %s holds ranks that are not consecutive (block order)", e["server_id"]
            )
        server = servers.setdefault(
            e["server_id"], {"server_id": e["server_id"], "device_ids": [], "device_ips": []}
        )
        server["device_ids"].append(e["device_id"])
        server["device_ips"].append(e["device_ip"])
    return ranktable.build_table(list(servers.values()), cfg.rank_table_format, cfg.rank_size)


# ---- both joined ---------------------------------------------------------------------------------


def rank_env(placement, device=None, base=None):
    """Environment of one rank: `base` (default os.environ) + RANK_ID, RANK_SIZE, DEVICE_ID,
    RESNEXT_CLUSTER + device(placement) (which may set DEVICE_ID from a rank table)."""
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "RANK_ID": str(placement.rank),
            "RANK_SIZE": str(placement.size),
            "DEVICE_ID": str(placement.local_id),
            "PYTHONUNBUFFERED": "1",
            "RESNEXT_CLUSTER": json.dumps(placement.hosts),
        }
    )
    env.update(device(placement) if device else {})
    return env


def _check_npu_device(cfg, placement, env):
    """A rank table (given, or built at job start) must give this rank the device SLURM's
    placement does: the local_id-th of npu_device_ids."""
    if cfg.backend != "npu" or placement.local_id >= len(cfg.npu_device_ids):
        return
    expected = str(list(cfg.npu_device_ids)[placement.local_id])
    if env.get("DEVICE_ID") != expected:
        raise _refused(
            "the rank table %s gives rank %d device %s but SLURM runs it as local task "
            "%d, device %s of npu_device_ids",
            env.get("RANK_TABLE_FILE"),
            placement.rank,
            env.get("DEVICE_ID"),
            placement.local_id,
            expected,
        )


def join(cfg, environ=None):
    """In a rank, before TensorFlow: -> (cfg, rank, rank_size). Under SLURM the rank derives its
    placement, sets its env in `environ` (default os.environ) and takes its threads from
    SLURM_CPUS_PER_TASK; under the local launcher the env is already set (RANK_ID, RANK_SIZE)."""
    environ = os.environ if environ is None else environ
    if cfg.launcher == "slurm":
        placement = slurm_placement(cfg, environ)
        env = rank_env(placement, device_env(cfg), base={})
        _check_npu_device(cfg, placement, env)
        environ.update(env)
        log.info(
            "rank %d/%d on node %s (local task %d) of the SLURM step %s.%s; cluster %s",
            placement.rank,
            placement.size,
            environ.get("SLURMD_NODENAME"),
            placement.local_id,
            environ.get("SLURM_JOB_ID"),
            environ.get("SLURM_STEP_ID"),
            ",".join(placement.hosts),
        )
        if placement.threads and placement.threads != cfg.threads_per_rank:
            cfg = cfg.replace(threads_per_rank=placement.threads)
    return cfg, int(environ.get("RANK_ID", "0")), int(environ.get("RANK_SIZE", "1"))
