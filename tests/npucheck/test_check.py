"""`resnext npu-check` end to end on this machine, as a user runs it: the command in a fresh
process, the recording fake of npu_bridge on PYTHONPATH (tests/fakes, as the container would have
the real one), its 2-device run through the real launcher (two rank processes whose fake HCCL
really exchanges values: tests/fakes/npu_bridge/hccl/_group.py).

Every item ends in PASS or SKIP with a reason and the exit is 0; with the fake's planted fault (a
broadcast that drops rank 1's update) item 4 FAILs and the exit is 1; without any npu_bridge,
item 2 FAILs and the runs that need it SKIP. Nothing here shows that anything runs on an NPU.
"""

import json
import os
import subprocess
import sys

import pytest

from support.paths import DEMO_CONFIG, ROOT

FAKES = os.path.join(ROOT, "tests", "fakes")
RESNEXT = os.path.join(os.path.dirname(sys.executable), "resnext")
NAMES = ["versions", "software", "one-device", "two-devices", "eval-export", "rank-table"]


def npu_check(tmp_path, *args, fake=True, **env):
    """Run `resnext npu-check --out <tmp>/check ...`; -> (completed process, its JSON record)."""
    out = tmp_path / "check"
    environ = dict(os.environ, FAKE_HCCL_DIR=str(tmp_path), **env)
    for name in ("RANK_ID", "RANK_SIZE", "RANK_TABLE_FILE", "FAKE_HCCL_BROADCAST_DROP_RANK"):
        if name not in env:
            environ.pop(name, None)
    environ["PYTHONPATH"] = FAKES if fake else ""
    run = subprocess.run(
        [
            RESNEXT,
            "npu-check",
            "--config",
            DEMO_CONFIG,
            "--set",
            "results_dir=%s" % (tmp_path / "results"),
            "--out",
            str(out),
        ]
        + list(args),
        capture_output=True,
        text=True,
        env=environ,
        timeout=600,
    )
    path = out / "npu-check.json"
    return run, (json.loads(path.read_text()) if path.exists() else None)


def _lines(run):
    return {line.split()[1]: line for line in run.stdout.splitlines() if line.startswith("[")}


@pytest.fixture(scope="module")
def full_check(tmp_path_factory):
    return npu_check(tmp_path_factory.mktemp("npucheck"))


def test_every_item_passes_or_skips_with_a_reason_and_exits_0(full_check):
    run, record = full_check
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    lines = _lines(run)
    assert list(lines) == NAMES
    for name, line in lines.items():
        status = line.split()[2]
        assert status in ("PASS", "SKIP"), line
        assert " s  " in line and len(line.split(" s  ", 1)[1]) > 10, line  # timed, with a detail
    # here: no driver, no devices; the fake stands in for npu_bridge, so the runs really run
    assert [r["status"] for r in record["items"]] == [
        "SKIP",
        "PASS",
        "PASS",
        "PASS",
        "PASS",
        "SKIP",
    ]
    assert (
        "npu-smi (not on PATH)" in lines["versions"] and "driver/version.info" in lines["versions"]
    )
    assert "/dev/davinci" in lines["rank-table"]
    assert "global_step 0 -> 10 -> 20" in lines["one-device"]
    assert "equal after the broadcast" in lines["two-devices"]
    assert record["passed"] and record["failed"] == [] and record["fake_npu_bridge"]


def test_the_output_says_a_pass_on_the_fake_proves_nothing(full_check):
    run, record = full_check
    note = "a PASS against it proves nothing about the device"
    assert note in record["note"]
    assert run.stdout.splitlines()[-2] == "NOTE: " + record["note"]
    assert run.stdout.splitlines()[-1] == "npu-check: PASS"
    assert "npu_bridge fake" in _lines(run)["software"]


def test_each_item_keeps_its_log_and_the_work_folder_is_removed(full_check, tmp_path_factory):
    _, record = full_check
    folder = os.path.dirname(record["items"][0]["log"])
    assert sorted(os.listdir(folder)) == sorted("%s.log" % n for n in NAMES)
    assert "train" in open(os.path.join(folder, "one-device.log")).read()
    assert not [n for n in os.listdir(os.path.dirname(folder)) if n.startswith("work-")]


def test_a_broadcast_that_drops_rank_1s_update_fails_item_4(tmp_path):
    run, record = npu_check(tmp_path, "--item", "two-devices", FAKE_HCCL_BROADCAST_DROP_RANK="1")
    assert run.returncode == 1, run.stdout + run.stderr[-3000:]
    line = _lines(run)["two-devices"]
    assert line.startswith("[4] two-devices  FAIL") and "after the HCCL broadcast" in line
    assert run.stdout.splitlines()[-1] == "npu-check: FAIL (two-devices)"
    assert record["failed"] == ["two-devices"] and not record["passed"]


def test_without_npu_bridge_item_2_fails_and_the_runs_skip(tmp_path):
    run, record = npu_check(tmp_path, "--item", "one-device", fake=False)
    assert run.returncode == 1
    lines = _lines(run)
    assert "FAIL" in lines["software"] and "npu_bridge cannot be imported" in lines["software"]
    assert "SKIP" in lines["one-device"] and "npu_bridge is not importable" in lines["one-device"]
    assert not record["fake_npu_bridge"] and record["note"] is None
    assert "NOTE" not in run.stdout


def test_out_naming_a_file_is_refused_in_one_line(tmp_path):
    (tmp_path / "check").write_text("mine")
    run, _ = npu_check(tmp_path)
    assert run.returncode == 2 and (tmp_path / "check").read_text() == "mine"
    assert run.stdout == "" and len(run.stderr.strip().splitlines()) == 1
    assert "is not a folder" in run.stderr


def test_a_planted_link_among_the_logs_is_refused_before_anything_is_written(tmp_path):
    target = tmp_path / "not-ours.txt"
    target.write_text("keep me")
    logs = tmp_path / "check" / "logs"
    logs.mkdir(parents=True)
    os.symlink(str(target), str(logs / "versions.log"))
    run, record = npu_check(tmp_path, "--item", "versions")
    assert run.returncode == 2 and run.stdout == "" and record is None
    assert len(run.stderr.strip().splitlines()) == 1
    assert "refusing to write" in run.stderr and "versions.log" in run.stderr
    assert target.read_text() == "keep me"


def test_an_out_folder_with_a_newline_markup_and_non_utf8_bytes_is_a_normal_run(tmp_path):
    name = os.fsdecode(b"out\n<script>\xff")
    out = os.path.join(os.fsencode(str(tmp_path)), os.fsencode(name))
    environ = dict(os.environ, PYTHONPATH=FAKES)
    run = subprocess.run(
        [
            os.fsencode(RESNEXT),
            b"npu-check",
            b"--config",
            os.fsencode(DEMO_CONFIG),
            b"--out",
            out,
            b"--item",
            b"versions",
        ],
        capture_output=True,
        env=environ,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.decode("utf-8").splitlines()
    assert [line.split()[1] for line in lines if line.startswith("[")] == ["versions", "software"]
    record = json.loads(open(os.path.join(out, b"npu-check.json"), "rb").read())
    assert record["passed"] and record["items"][0]["log"] == os.path.join(
        os.fsdecode(out), "logs", "versions.log"
    )
    assert sorted(os.listdir(out)) == [b"logs", b"npu-check.json"]
