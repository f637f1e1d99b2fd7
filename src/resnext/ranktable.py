"""HCCL rank tables: build, parse, validate and write the JSON that RANK_TABLE_FILE points to.

An NPU job with more than one device needs a rank table that lists, for every rank, the server
(host IP), the device's index on that server (`device_id`, 0-7) and the IP of that device's NIC
(`device_ip`). Two formats exist (CANN docs; the rank tables in Ascend/ModelZoo-TensorFlow):

- "server_list" (CANN v1.0, the default here): {"version": "1.0", "server_count": "1",
  "server_list": [{"server_id": ip, "device": [{"device_id", "device_ip", "rank_id"}]}],
  "status": "completed"}; every value a string.
- "group_list" (older, the seed's hccl.json): one group whose "instance_list" holds
  {"devices": [{"device_id", "device_ip"}], "rank_id", "server_id"} per rank, plus board/NIC fields.

Device IPs come from the config (`npu_servers`) or from the host: `hccn_tool -i <dev> -ip -g`
(parsed by the pure function `parse_hccn_ip`) or /etc/hccn.conf (`parse_hccn_conf`).
Runs in the Ascend container and on the host: Python 3.7, no TensorFlow.
"""

import collections
import ipaddress
import json
import logging
import os
import platform
import re
import shutil
import subprocess

from resnext import atomic
from resnext.config import ConfigError

log = logging.getLogger(__name__)

SERVER_LIST = "server_list"
GROUP_LIST = "group_list"
FORMATS = (SERVER_LIST, GROUP_LIST)
DEVICES_PER_SERVER = 8
MAX_TABLE_BYTES = 1 << 20  # a 128-server table is ~40 kB: anything larger is not one

Entry = collections.namedtuple("Entry", ["rank_id", "server_id", "device_id", "device_ip"])
Entry.__doc__ = (
    "One rank of a table: rank_id int, server_id str, device_id int (local), device_ip str."
)


# ---- what the host reports -------------------------------------------------------------------

_HCCN_IP = re.compile(r"^\s*ipaddr\s*[:=]\s*(\S+)", re.MULTILINE)
_HCCN_CONF = re.compile(r"^\s*address_(\d+)\s*=\s*(\S+)\s*$", re.MULTILINE)


def parse_hccn_ip(text):
    """Output of `hccn_tool -i <dev> -ip -g` ("ipaddr:192.168.100.101\\nnetmask:...")
    -> the IP str."""
    match = _HCCN_IP.search(text or "")
    if not match:
        raise ConfigError("hccn_tool printed no 'ipaddr:' line: %r" % (text or "")[:200])
    return _checked_ip(match.group(1), "hccn_tool ipaddr")


def parse_hccn_conf(text):
    """/etc/hccn.conf text ("address_0=192.168.100.101" lines) -> {device_id int: ip str}."""
    return {
        int(dev): _checked_ip(ip, "hccn.conf address_%s" % dev)
        for dev, ip in _HCCN_CONF.findall(text or "")
    }


def query_device_ips(device_ids, run=subprocess.check_output, tool="hccn_tool"):
    """[device_id] -> [device_ip] by running `hccn_tool -i <id> -ip -g`
    (only when the tool exists)."""
    if run is subprocess.check_output and not shutil.which(tool):
        raise ConfigError(
            "npu_servers is empty and %s is not on PATH: list the device IPs in the config "
            "(npu_servers) or run where the Ascend driver tools are installed" % tool
        )
    ips = []
    for dev in device_ids:
        out = run([tool, "-i", str(dev), "-ip", "-g"])
        ips.append(parse_hccn_ip(out.decode("utf-8", "replace") if isinstance(out, bytes) else out))
    return ips


def host_servers(
    device_ids, server_id=None, conf_path="/etc/hccn.conf", run=subprocess.check_output
):
    """This host as a one-server list, device IPs from /etc/hccn.conf or else hccn_tool."""
    ips = {}
    if os.path.isfile(conf_path):
        with open(conf_path) as f:
            ips = parse_hccn_conf(f.read())
    if not all(d in ips for d in device_ids):
        ips = dict(zip(device_ids, query_device_ips(device_ids, run=run)))
    host = server_id or _host_ip()
    return [
        {
            "server_id": host,
            "device_ids": list(device_ids),
            "device_ips": [ips[d] for d in device_ids],
        }
    ]


def _host_ip():
    import socket

    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


# ---- building -------------------------------------------------------------------------------


def _checked_ip(value, key):
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ConfigError("%s: %r is not a valid IP address" % (key, value))


def normalize_servers(servers, key="npu_servers"):
    """Config-style servers [{server_id, device_ips, device_ids?}] -> [Entry] in rank order.

    Ranks are numbered server by server, device by device, as HCCL expects (server 2 holds 8-15).
    """
    if not servers:
        raise ConfigError("%s: no servers listed" % key)
    entries = []
    for s_idx, server in enumerate(servers):
        where = "%s[%d]" % (key, s_idx)
        if not isinstance(server, dict) or "server_id" not in server or "device_ips" not in server:
            raise ConfigError("%s: needs server_id and device_ips" % where)
        ips = list(server["device_ips"])
        ids = list(server.get("device_ids") or range(len(ips)))
        if len(ids) != len(ips):
            raise ConfigError("%s: %d device_ids but %d device_ips" % (where, len(ids), len(ips)))
        host = _checked_ip(server["server_id"], where + ".server_id")
        for i, (dev, ip) in enumerate(zip(ids, ips)):
            entries.append(
                Entry(
                    len(entries),
                    host,
                    _device_id(dev, "%s.device_ids[%d]" % (where, i)),
                    _checked_ip(ip, "%s.device_ips[%d]" % (where, i)),
                )
            )
    return entries


def _device_id(value, key):
    try:
        dev = int(value)
    except (TypeError, ValueError):
        raise ConfigError("%s: device id %r is not an integer" % (key, value))
    if dev < 0 or dev >= 2 * DEVICES_PER_SERVER or str(dev) != str(value).strip():
        raise ConfigError(
            "%s: device id %r is not a device index 0..%d"
            % (key, value, 2 * DEVICES_PER_SERVER - 1)
        )
    return dev


def _by_server(entries):
    servers = collections.OrderedDict()
    for e in entries:
        servers.setdefault(e.server_id, []).append(e)
    return servers


def server_list_table(entries):
    """[Entry] -> the CANN v1.0 "server_list" table (all values strings)."""
    servers = _by_server(entries)
    return {
        "version": "1.0",
        "server_count": str(len(servers)),
        "status": "completed",
        "server_list": [
            {
                "server_id": host,
                "device": [
                    {
                        "device_id": str(e.device_id),
                        "device_ip": e.device_ip,
                        "rank_id": str(e.rank_id),
                    }
                    for e in group
                ],
            }
            for host, group in servers.items()
        ],
    }


def group_list_table(entries, board_id=None):
    """[Entry] -> the older "group_list" table (the seed's hccl.json layout).

    board_id: "0x0000" on x86 and "0x0020" on ARM hosts (taken from this machine by default).
    """
    n = len(entries)
    per_server = max(len(g) for g in _by_server(entries).values())
    if board_id is None:
        board_id = "0x0020" if platform.machine().lower() in ("aarch64", "arm64") else "0x0000"
    instances = [
        {
            "devices": [{"device_id": str(e.device_id), "device_ip": e.device_ip}],
            "rank_id": str(e.rank_id),
            "server_id": e.server_id,
        }
        for e in entries
    ]
    group = {
        "device_num": str(n),
        "server_num": str(len(_by_server(entries))),
        "group_name": "",
        "instance_count": str(n),
        "instance_list": instances,
    }
    return {
        "board_id": board_id,
        "chip_info": "910",
        "deploy_mode": "lab",
        "group_count": "1",
        "group_list": [group],
        "para_plane_nic_location": "device",
        "para_plane_nic_name": ["eth%d" % i for i in range(per_server)],
        "para_plane_nic_num": str(per_server),
        "status": "completed",
    }


def build_table(servers, fmt=SERVER_LIST, rank_size=None, board_id=None):
    """Config-style servers -> a validated rank table dict in format `fmt`."""
    if fmt not in FORMATS:
        raise ConfigError("rank_table_format: %r is not one of %s" % (fmt, ", ".join(FORMATS)))
    entries = normalize_servers(servers)
    table = (
        server_list_table(entries) if fmt == SERVER_LIST else group_list_table(entries, board_id)
    )
    validate(table, rank_size if rank_size is not None else len(entries), key="npu_servers")
    return table


# ---- parsing and validation -----------------------------------------------------------------


def table_format(table, key="rank table"):
    if isinstance(table, dict) and "server_list" in table:
        return SERVER_LIST
    if isinstance(table, dict) and "group_list" in table:
        return GROUP_LIST
    raise ConfigError("%s: neither 'server_list' nor 'group_list' at the top level" % key)


def _typed(value, kind, where):
    """`value` when it is a `kind` (list or dict), else ConfigError naming where it is."""
    if not isinstance(value, kind):
        raise ConfigError(
            "%s is %s, not %s"
            % (where, type(value).__name__, "a list" if kind is list else "an object")
        )
    return value


def _raw_entries(table, key):
    """-> [(where, rank_id, server_id, device_id, device_ip)] as found (values unchecked; every
    list and object on the way type-checked, naming where)."""
    rows = []
    if table_format(table, key) == SERVER_LIST:
        for s, server in enumerate(_typed(table["server_list"], list, key + ".server_list")):
            where = "%s.server_list[%d]" % (key, s)
            server = _typed(server, dict, where)
            for d, dev in enumerate(_typed(server.get("device", []), list, where + ".device")):
                dev = _typed(dev, dict, "%s.device[%d]" % (where, d))
                rows.append(
                    (
                        "%s.device[%d]" % (where, d),
                        dev.get("rank_id"),
                        server.get("server_id"),
                        dev.get("device_id"),
                        dev.get("device_ip"),
                    )
                )
        return rows
    for g, group in enumerate(_typed(table["group_list"], list, key + ".group_list")):
        where = "%s.group_list[%d]" % (key, g)
        instances = _typed(
            _typed(group, dict, where).get("instance_list", []), list, where + ".instance_list"
        )
        for i, inst in enumerate(instances):
            at = "%s.instance_list[%d]" % (where, i)
            devs = _typed(_typed(inst, dict, at).get("devices") or [{}], list, at + ".devices")
            dev = _typed(devs[0], dict, at + ".devices[0]")
            rows.append(
                (
                    at,
                    inst.get("rank_id"),
                    inst.get("server_id"),
                    dev.get("device_id"),
                    dev.get("device_ip"),
                )
            )
    return rows


def entries(table, key="rank table"):
    """Rank table (either format) -> [Entry] sorted by rank_id; raises ConfigError on bad fields."""
    out = []
    for where, rank, host, dev, ip in _raw_entries(table, key):
        if host is None or dev is None or ip is None or rank is None:
            raise ConfigError("%s: needs rank_id, server_id, device_id and device_ip" % where)
        try:
            rank_id = int(rank)
        except (TypeError, ValueError):
            raise ConfigError("%s.rank_id: %r is not an integer" % (where, rank))
        out.append(
            Entry(
                rank_id,
                _checked_ip(host, where + ".server_id"),
                _device_id(dev, where + ".device_id"),
                _checked_ip(ip, where + ".device_ip"),
            )
        )
    return sorted(out, key=lambda e: e.rank_id)


def _check_topology(group, host, key):
    """Ascend 910 servers run 1, 2, 4 or 8 devices; 2 or 4 must sit in one half (0-3 or 4-7)."""
    ids = sorted(e.device_id for e in group)
    if len(ids) not in (1, 2, 4, 8):
        raise ConfigError(
            "%s: server %s lists %d devices; an Ascend 910 server runs 1, 2, 4 or 8"
            % (key, host, len(ids))
        )
    if len(ids) in (2, 4) and len(set(d // 4 for d in ids)) > 1:
        raise ConfigError(
            "%s: server %s uses devices %s across both halves (0-3, 4-7), which are separate "
            "HCCL networks on Ascend 910" % (key, host, ids)
        )


def validate(table, rank_size, key="rank table", topology="910"):
    """Check a table against rank_size: ranks 0..n-1 once each, device ids unique per server, device
    IPs unique, and (topology "910") the per-server device counts HCCL accepts. -> [Entry]."""
    found = entries(table, key)
    if len(found) != rank_size:
        raise ConfigError("%s lists %d devices but rank_size is %d" % (key, len(found), rank_size))
    if [e.rank_id for e in found] != list(range(rank_size)):
        raise ConfigError(
            "%s: rank_id values %s are not 0..%d, each once"
            % (key, [e.rank_id for e in found], rank_size - 1)
        )
    ips = [e.device_ip for e in found]
    if len(set(ips)) != len(ips):
        raise ConfigError(
            "%s: device_ip listed twice: %s"
            % (key, sorted(i for i in set(ips) if ips.count(i) > 1))
        )
    for host, group in _by_server(found).items():
        ids = [e.device_id for e in group]
        if len(set(ids)) != len(ids):
            raise ConfigError(
                "%s: server %s lists device_id %s twice"
                % (key, host, sorted(d for d in set(ids) if ids.count(d) > 1))
            )
        if topology == "910":
            _check_topology(group, host, key)
    return found


# ---- files and environment --------------------------------------------------------------------


def write_table(path, table):
    """Write the table atomically (sorted keys); -> path."""
    atomic.write_json(path, table)
    return path


def read_table(path):
    """The JSON value in a rank table file, or ConfigError naming the file: missing, over
    MAX_TABLE_BYTES, not UTF-8, not JSON, or nested too deeply for Python's JSON reader."""
    what = "rank_table_file %s" % path
    if not os.path.isfile(path):
        raise ConfigError("rank_table_file: %s does not exist" % path)
    with open(path, "rb") as f:
        raw = f.read(MAX_TABLE_BYTES + 1)
    if len(raw) > MAX_TABLE_BYTES:
        raise ConfigError("%s is over %d bytes: not a rank table" % (what, MAX_TABLE_BYTES))
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "%s is not UTF-8 JSON text (byte 0x%02x at offset %d): not a rank "
            "table" % (what, raw[exc.start], exc.start)
        )
    except RecursionError:
        raise ConfigError("%s is nested too deeply to be a rank table" % what)
    except ValueError as exc:
        raise ConfigError("%s is not valid JSON (%s)" % (what, exc))


def load_table(path, rank_size=None):
    """Read a rank table file (read_table); validated against rank_size when given."""
    table = read_table(path)
    if rank_size is not None:
        validate(table, rank_size, key="rank_table_file %s" % path)
    return table


def rank_env(table, rank):
    """That rank's device env from the table: RANK_ID, RANK_SIZE, DEVICE_ID, ASCEND_DEVICE_ID.

    DEVICE_ID and ASCEND_DEVICE_ID are both the local device index (the table's device_id), as the
    ModelZoo launchers set them; with all of a server's /dev/davinci* visible, logical == physical.
    """
    found = entries(table)
    by_rank = {e.rank_id: e for e in found}
    if rank not in by_rank:
        raise ConfigError("rank %d is not in the rank table (ranks 0..%d)" % (rank, len(found) - 1))
    dev = str(by_rank[rank].device_id)
    return {
        "RANK_ID": str(rank),
        "RANK_SIZE": str(len(found)),
        "DEVICE_ID": dev,
        "ASCEND_DEVICE_ID": dev,
    }


def local_ranks(table, server_ids):
    """Ranks whose server_id is one of `server_ids` (this host's IPs), ascending: what one server's
    launcher starts in a multi-server job."""
    wanted = set(server_ids)
    return [e.rank_id for e in entries(table) if e.server_id in wanted]


def table_for_config(cfg, discover=False, fmt=None):
    """The rank table a config describes: from npu_servers, or (discover / no servers listed) from
    this host's device NICs for devices 0..rank_size-1. Validated against cfg.rank_size."""
    servers = [dict(s) for s in cfg.npu_servers]
    if discover or not servers:
        ids = list(cfg.npu_device_ids)[: cfg.rank_size]
        servers = host_servers(ids)
    return build_table(servers, fmt or cfg.rank_table_format, cfg.rank_size)


def prepare(cfg, out_path):
    """Path of the rank table the ranks use: rank_table_file (or an inherited RANK_TABLE_FILE),
    checked against rank_size; else the table built from the config, written to `out_path`."""
    given = cfg.rank_table_file or os.environ.get("RANK_TABLE_FILE", "")
    if given:
        load_table(given, cfg.rank_size)
        return os.path.abspath(given)
    write_table(out_path, table_for_config(cfg))
    log.info("rank table for %d device(s) -> %s", cfg.rank_size, out_path)
    return os.path.abspath(out_path)
