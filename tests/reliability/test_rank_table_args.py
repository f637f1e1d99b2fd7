"""Hostile rank-table JSON and bad `resnext with-device` arguments (issue 12, item 12).

Before: a rank table that was binary ended `resnext ranktable --check` (and an NPU training start,
which reads it the same way) in a UnicodeDecodeError traceback, one nested 100000 deep in a
RecursionError, one with a string or a number where a list or an object belongs in an
AttributeError or TypeError; `with-device --devices a-b` in a ValueError traceback, `--count 9` of
8 devices too, `--devices 0-1000000000` built a billion-id set, and `--timeout nan` waited
forever. Now each is one line naming the file (and where in it) or the argument, exit 2, before
anything is written or run; the file unchanged.
"""

import json

import pytest

from resnext import ranktable

import hostile as H

GOOD = ranktable.build_table(
    [{"server_id": "10.0.0.1", "device_ips": ["192.168.100.101"]}], rank_size=1
)
GROUP = ranktable.build_table(
    [{"server_id": "10.0.0.1", "device_ips": ["192.168.100.101"]}], fmt="group_list", rank_size=1
)


def _with(table, *path_and_value):
    """A copy of `table` with the value at path (keys / indexes) replaced."""
    table = json.loads(json.dumps(table))
    *path, value = path_and_value
    node = table
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(table).encode("utf-8")


TABLES = {
    # name: (file bytes, words the line must hold besides the file name)
    "binary": (b"\x00\xff\xfe\x89PNG\r\n" * 8, "is not UTF-8 JSON text (byte 0xff at offset 1)"),
    "deep": (b"[" * 100000 + b"]" * 100000, "is nested too deeply to be a rank table"),
    "not-json": (b'{"server_list": [', "is not valid JSON"),
    "huge": (b" " * (ranktable.MAX_TABLE_BYTES + 1) + b"{}", "is over 1048576 bytes"),
    "a-list": (b"[1, 2]", "neither 'server_list' nor 'group_list' at the top level"),
    "server-list-a-string": (_with(GOOD, "server_list", "x"), ".server_list is str, not a list"),
    "server-a-number": (_with(GOOD, "server_list", 0, 7), ".server_list[0] is int, not an object"),
    "device-an-object": (
        _with(GOOD, "server_list", 0, "device", {}),
        ".server_list[0].device is dict, not a list",
    ),
    "device-entry-a-list": (
        _with(GOOD, "server_list", 0, "device", 0, ["0"]),
        ".server_list[0].device[0] is list, not an object",
    ),
    "rank-id-an-object": (
        _with(GOOD, "server_list", 0, "device", 0, "rank_id", {"a": 1}),
        ".server_list[0].device[0].rank_id: {'a': 1} is not an integer",
    ),
    "device-id-a-boolean": (
        _with(GOOD, "server_list", 0, "device", 0, "device_id", True),
        ".device_id: device id True is not a device index 0..15",
    ),
    "group-devices-a-string": (
        _with(GROUP, "group_list", 0, "instance_list", 0, "devices", "x"),
        ".group_list[0].instance_list[0].devices is str, not a list",
    ),
    "group-list-an-object": (
        _with(GROUP, "group_list", {"a": 1}),
        ".group_list is dict, not a list",
    ),
}


@pytest.mark.parametrize("case", sorted(TABLES))
def test_a_hostile_rank_table_is_refused_naming_the_file(case, tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data, words = TABLES[case]
    victim = tmp_path / "rank_table.json"
    victim.write_bytes(data)
    config = H.write_yaml(tmp_path / "c.yaml", {"results_dir": str(tmp_path / "results")})
    before = H.tree(tmp_path)
    line, text = H.refused(["ranktable", "--config", config, "--check", victim], caplog)
    assert "rank_table_file %s" % victim in line and words in line, line
    assert len(line) < 400, line  # one short line, whatever the file holds
    assert H.tree(tmp_path) == before


def test_a_good_rank_table_still_checks(tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "rank_table.json"
    path.write_text(json.dumps(GOOD))
    config = H.write_yaml(tmp_path / "c.yaml", {"results_dir": str(tmp_path / "results")})
    code, text = H.main(["ranktable", "--config", config, "--check", path], caplog)
    assert code == 0 and "is a valid rank table for rank_size 1" in text, text


ARGS = {
    # name: (with-device arguments before --, words the line must hold)
    "devices-not-ids": (
        ["--devices", "a-b"],
        "with-device --devices 'a-b': 'a-b' is not a device id",
    ),
    "devices-negative": (["--devices", "-1"], "'-1' is not a device id or a range like 0-7"),
    "devices-empty-range": (["--devices", "3-1"], "range '3-1' is empty (3 > 1)"),
    "devices-a-billion": (["--devices", "0-1000000000"], "device id 1000000000 is over 63"),
    "devices-none": (["--devices", ","], "no device id in it"),
    "count-zero": (["--devices", "0-7", "--count", "0"], "with-device --count 0: give 1..8"),
    "count-too-many": (["--devices", "0-7", "--count", "9"], "with-device --count 9: give 1..8"),
    "timeout-nan": (["--timeout", "nan"], "with-device --timeout nan: give seconds >= 0"),
    "timeout-negative": (["--timeout", "-5"], "with-device --timeout -5.0: give seconds >= 0"),
    "pool-a-file": (
        ["--pool", "{tmp}/c.yaml"],
        "with-device --pool {tmp}/c.yaml: it exists and is not a folder",
    ),
    "no-command": ([], "with-device: give the command after --"),
}


@pytest.mark.parametrize("case", sorted(ARGS))
def test_bad_with_device_arguments_are_refused_naming_them(case, tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, words = ARGS[case]
    args = [a.format(tmp=tmp_path) for a in args]
    marker = tmp_path / "ran"
    config = H.write_yaml(tmp_path / "c.yaml", {"results_dir": str(tmp_path / "results")})
    command = [] if case == "no-command" else ["--", "touch", marker]
    before = H.tree(tmp_path)
    line, text = H.refused(["with-device", "--config", config] + args + command, caplog)
    assert words.format(tmp=tmp_path) in line, line
    assert H.tree(tmp_path) == before and not marker.exists()  # nothing run, no pool made
