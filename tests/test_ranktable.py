"""Rank tables: both formats, validation errors naming the key, hccn_tool / hccn.conf parsing."""

import json
import os

import pytest

from resnext import ranktable
from resnext.config import ConfigError
from support.npu import SERVERS, npu_config

HCCN_OUTPUT = "ipaddr:192.168.100.101\nnetmask:255.255.255.0\n"
HCCN_CONF = """address_0=192.168.100.101
netmask_0=255.255.255.0
address_1=192.168.101.101
netmask_1=255.255.255.0
"""


def one_server(n=8, host="10.0.0.1"):
    return [{"server_id": host, "device_ips": ["192.168.%d.101" % (100 + d) for d in range(n)]}]


def test_server_list_format():
    table = ranktable.build_table(one_server(), rank_size=8)
    assert (
        table["version"] == "1.0"
        and table["server_count"] == "1"
        and table["status"] == "completed"
    )
    (server,) = table["server_list"]
    assert server["server_id"] == "10.0.0.1"
    assert server["device"][3] == {"device_id": "3", "device_ip": "192.168.103.101", "rank_id": "3"}
    assert all(isinstance(v, str) for d in server["device"] for v in d.values())


def test_group_list_format_is_the_seeds_hccl_json():
    table = ranktable.build_table(SERVERS, fmt="group_list", rank_size=8, board_id="0x0020")
    assert {
        k: table[k]
        for k in (
            "board_id",
            "chip_info",
            "deploy_mode",
            "group_count",
            "status",
            "para_plane_nic_location",
            "para_plane_nic_num",
        )
    } == {
        "board_id": "0x0020",
        "chip_info": "910",
        "deploy_mode": "lab",
        "group_count": "1",
        "status": "completed",
        "para_plane_nic_location": "device",
        "para_plane_nic_num": "4",
    }
    (group,) = table["group_list"]
    assert (group["device_num"], group["server_num"], group["instance_count"]) == ("8", "2", "8")
    assert group["instance_list"][3] == {
        "devices": [{"device_id": "7", "device_ip": "192.168.103.105"}],
        "rank_id": "3",
        "server_id": "10.0.0.1",
    }


@pytest.mark.parametrize("fmt", ["server_list", "group_list"])
def test_both_formats_parse_to_the_same_ranks(fmt):
    table = ranktable.build_table(SERVERS, fmt=fmt, rank_size=8)
    found = ranktable.entries(table)
    assert [(e.rank_id, e.server_id, e.device_id) for e in found][2:5] == [
        (2, "10.0.0.1", 6),
        (3, "10.0.0.1", 7),
        (4, "10.0.0.2", 0),
    ]
    assert ranktable.rank_env(table, 3) == {
        "RANK_ID": "3",
        "RANK_SIZE": "8",
        "DEVICE_ID": "7",
        "ASCEND_DEVICE_ID": "7",
    }
    assert ranktable.local_ranks(table, ["10.0.0.2"]) == [4, 5, 6, 7]


def test_written_atomically_and_read_back(tmp_path):
    path = str(tmp_path / "hccl.json")
    table = ranktable.build_table(one_server(), rank_size=8)
    ranktable.write_table(path, table)
    assert json.load(open(path)) == table and ranktable.load_table(path, 8) == table
    assert [p for p in os.listdir(str(tmp_path)) if ".tmp" in p] == []


@pytest.mark.parametrize(
    "servers, rank_size, message",
    [
        (one_server(8), 4, "lists 8 devices but rank_size is 4"),
        (
            [{"server_id": "10.0.0.1", "device_ids": [0, 0], "device_ips": ["1.1.1.1", "1.1.1.2"]}],
            2,
            "device_id \\[0\\] twice",
        ),
        (
            [{"server_id": "10.0.0.1", "device_ips": ["192.168.1.300"]}],
            1,
            "npu_servers\\[0\\].device_ips\\[0\\]",
        ),
        (
            [{"server_id": "node-a", "device_ips": ["192.168.1.3"]}],
            1,
            "npu_servers\\[0\\].server_id",
        ),
        (
            [{"server_id": "10.0.0.1", "device_ips": ["1.1.1.1", "1.1.1.1"]}],
            2,
            "device_ip listed twice",
        ),
        (
            [{"server_id": "10.0.0.1", "device_ids": [1], "device_ips": ["1.1.1.1", "1.1.1.2"]}],
            2,
            "1 device_ids but 2 device_ips",
        ),
        (one_server(3), 3, "lists 3 devices; an Ascend 910 server runs 1, 2, 4 or 8"),
        (
            [{"server_id": "10.0.0.1", "device_ids": [3, 4], "device_ips": ["1.1.1.1", "1.1.1.2"]}],
            2,
            "across both halves",
        ),
        (
            [{"server_id": "10.0.0.1", "device_ids": ["x"], "device_ips": ["1.1.1.1"]}],
            1,
            "not an integer",
        ),
        ([{"server_id": "10.0.0.1"}], 1, "needs server_id and device_ips"),
        ([], 1, "no servers listed"),
    ],
)
def test_invalid_servers_name_the_key(servers, rank_size, message):
    with pytest.raises(ConfigError, match=message):
        ranktable.build_table(servers, rank_size=rank_size)


def test_unknown_format_names_the_key():
    with pytest.raises(ConfigError, match="rank_table_format"):
        ranktable.build_table(one_server(), fmt="cluster", rank_size=8)


def test_invalid_table_files(tmp_path):
    table = ranktable.build_table(one_server(), rank_size=8)
    table["server_list"][0]["device"][5]["rank_id"] = "2"
    path = str(tmp_path / "bad.json")
    ranktable.write_table(path, table)
    with pytest.raises(ConfigError, match="rank_table_file .*bad.json: rank_id values"):
        ranktable.load_table(path, 8)
    with pytest.raises(ConfigError, match="does not exist"):
        ranktable.load_table(str(tmp_path / "missing.json"), 8)
    with pytest.raises(ConfigError, match="neither 'server_list' nor 'group_list'"):
        ranktable.entries({"version": "1.0"})
    with pytest.raises(ConfigError, match="rank 9 is not in the rank table"):
        ranktable.rank_env(ranktable.build_table(one_server(), rank_size=8), 9)


def test_hccn_tool_output_parsing():
    assert ranktable.parse_hccn_ip(HCCN_OUTPUT) == "192.168.100.101"
    assert ranktable.parse_hccn_ip("  ipaddr: 10.0.0.7 \r\nnetmask:255.255.255.0") == "10.0.0.7"
    with pytest.raises(ConfigError, match="no 'ipaddr:' line"):
        ranktable.parse_hccn_ip("dev_id:0, get ip failed\n")
    with pytest.raises(ConfigError, match="not a valid IP"):
        ranktable.parse_hccn_ip("ipaddr:192.168.1\n")
    assert ranktable.parse_hccn_conf(HCCN_CONF) == {0: "192.168.100.101", 1: "192.168.101.101"}


def test_query_device_ips_runs_hccn_tool_per_device():
    seen = []

    def fake_run(argv):
        seen.append(argv)
        return ("ipaddr:192.168.10%s.1\nnetmask:255.255.255.0\n" % argv[2]).encode()

    assert ranktable.query_device_ips([0, 1], run=fake_run) == ["192.168.100.1", "192.168.101.1"]
    assert seen == [["hccn_tool", "-i", "0", "-ip", "-g"], ["hccn_tool", "-i", "1", "-ip", "-g"]]


def test_host_discovery_prefers_hccn_conf(tmp_path):
    conf = tmp_path / "hccn.conf"
    conf.write_text(HCCN_CONF)

    def must_not_run(argv):
        raise AssertionError("hccn_tool should not run when hccn.conf lists the devices")

    servers = ranktable.host_servers(
        [0, 1], server_id="10.0.0.9", conf_path=str(conf), run=must_not_run
    )
    assert servers == [
        {
            "server_id": "10.0.0.9",
            "device_ids": [0, 1],
            "device_ips": ["192.168.100.101", "192.168.101.101"],
        }
    ]


def test_missing_hccn_tool_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="npu_servers is empty and hccn_tool is not on PATH"):
        ranktable.query_device_ips([0])


def test_prepare_uses_given_table_or_writes_one(tmp_path, monkeypatch):
    monkeypatch.delenv("RANK_TABLE_FILE", raising=False)
    cfg = npu_config(tmp_path).replace(npu_servers=SERVERS, rank_table_format="group_list")
    out = ranktable.prepare(cfg, str(tmp_path / "train" / "rank_table.json"))
    assert ranktable.table_format(json.load(open(out))) == "group_list"
    given = npu_config(tmp_path).replace(rank_table_file=out)
    assert ranktable.prepare(given, str(tmp_path / "unused.json")) == out
    assert not (tmp_path / "unused.json").exists()
    with pytest.raises(ConfigError, match="rank_size is 2"):
        ranktable.prepare(npu_config(tmp_path, "rank_size=2").replace(rank_table_file=out), "x")
