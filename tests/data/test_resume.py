"""Resuming conversion: sidecars per finished shard, reuse checked by sha256,
a SIGKILLed run finished."""

import errno
import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
import yaml

from resnext import atomic
from resnext.config import load_config
from resnext.data import convert, shardwriter, tfrecord
from resnext.data import manifest as manifests

RESNEXT = os.path.join(os.path.dirname(sys.executable), "resnext")


def _files(data_dir):
    out = {}
    for name in sorted(os.listdir(data_dir)):
        with open(os.path.join(data_dir, name), "rb") as f:
            out[name] = f.read()
    return out


def _sidecars(data_dir):
    if not os.path.isdir(data_dir):
        return []
    return sorted(
        n
        for n in os.listdir(data_dir)
        if n.endswith(shardwriter.SIDECAR_SUFFIX) and n != "manifest.json"
    )


def _complete(data_dir):
    """Shard names with both their sidecar and the shard file in place.

    The sidecar lands first (store_shard), so a sidecar alone may belong to a shard whose rename a
    kill is about to cut short: only the pair is a complete shard.
    """
    names = [n[: -len(shardwriter.SIDECAR_SUFFIX)] for n in _sidecars(data_dir)]
    return [n for n in names if os.path.exists(os.path.join(data_dir, n))]


def _start_and_kill_after_first_shard(config, log_path, data_dir):
    """Start `resnext convert`; SIGKILL it (the main process only) once a shard is complete.

    Its worker processes must then end by themselves, and so must multiprocessing's resource
    tracker, which releases the named semaphores of its queues (killing the whole process group
    instead would leave those behind in /dev/shm): nothing is left running.
    """
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [RESNEXT, "convert", "--config", config], stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 180
    while not _complete(data_dir):
        assert proc.poll() is None, (
            "conversion ended before a shard was complete: %s" % open(log_path).read()
        )
        assert time.monotonic() < deadline, "no shard completed within 180 s"
        time.sleep(0.002)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(children, timeout=60)
    for leftover in alive:
        leftover.kill()
    assert not alive, "processes outlived the killed conversion: %s" % [p.pid for p in alive]
    assert len(children) >= 3  # two workers and the resource tracker really existed


def test_killed_conversion_resumes_to_byte_identical_shards(tmp_path, photo_tree):
    values = dict(
        results_dir=str(tmp_path / "killed"),
        run_name="p",
        source_dir=photo_tree,
        num_classes=3,
        label_offset=0,
        train_shards=24,
        validation_shards=4,
        convert_workers=2,
        num_train_images=192,
        seed=3,
    )
    config = str(tmp_path / "convert.yaml")
    with open(config, "w") as f:
        yaml.safe_dump(values, f)
    killed = load_config([config])
    _start_and_kill_after_first_shard(config, str(tmp_path / "killed.log"), killed.data_dir)
    complete = _complete(killed.data_dir)
    assert "manifest.json" not in os.listdir(killed.data_dir)
    assert 1 <= len(complete) < 28, "the kill should land mid-run"
    mtimes = {n: os.stat(os.path.join(killed.data_dir, n)).st_mtime_ns for n in complete}

    rerun = subprocess.run(
        [RESNEXT, "convert", "--config", config], capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "reused %d of 28 shards" % len(complete) in rerun.stderr
    assert {n: os.stat(os.path.join(killed.data_dir, n)).st_mtime_ns for n in complete} == mtimes

    clean = load_config([config], values={"results_dir": str(tmp_path / "clean")})
    convert.convert(clean)
    resumed_files, clean_files = _files(killed.data_dir), _files(clean.data_dir)
    assert (
        sorted(resumed_files) == sorted(clean_files) and len(clean_files) == 29
    )  # 28 shards + manifest
    assert resumed_files == clean_files  # every shard and the manifest, byte for byte
    verified = subprocess.run(
        [RESNEXT, "convert", "--verify", "--config", config], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stderr


def test_rerun_reuses_verified_shards_and_redoes_changed_ones(converted, tmp_path):
    cfg, manifest = converted
    copy = cfg.replace(results_dir=str(tmp_path))
    convert.convert(copy)
    shard = os.path.join(copy.data_dir, "train-00001-of-00003")
    with open(shard, "r+b") as f:  # same size, different bytes: only the sha256 can tell
        f.seek(100)
        f.write(b"\x00" * 8)
    before = {
        n: os.stat(os.path.join(copy.data_dir, n)).st_mtime_ns for n in os.listdir(copy.data_dir)
    }
    assert convert.convert(copy) == manifest
    after = {
        n: os.stat(os.path.join(copy.data_dir, n)).st_mtime_ns for n in os.listdir(copy.data_dir)
    }
    changed = sorted(n for n in before if before[n] != after[n])
    assert changed == ["manifest.json", "train-00001-of-00003"]
    assert convert.verify(copy) == []


def test_stale_sidecar_of_other_inputs_is_not_trusted(converted, tmp_path):
    cfg, manifest = converted
    copy = cfg.replace(results_dir=str(tmp_path))
    convert.convert(copy)
    # a killed run: every shard has its sidecar, no manifest
    os.remove(os.path.join(copy.data_dir, "manifest.json"))
    for split in ("train", "validation"):
        for shard in manifest["splits"][split]["shards"]:
            atomic.write_json(
                os.path.join(copy.data_dir, shard["name"] + ".json"),
                manifests._sidecar_from(manifest, split, shard),
            )
    side = os.path.join(copy.data_dir, "validation-00000-of-00002.json")
    entry = dict(
        manifest["splits"]["validation"]["shards"][0],
        split="validation",
        skipped=[],
        reencoded=[],
        warnings=[],
        task_sha256="0" * 64,
    )
    atomic.write_json(side, entry)  # matches the file, but names other inputs
    reseeded = convert.convert(copy)
    assert reseeded == manifest and not os.path.exists(side)


def test_a_stored_shard_has_its_sidecar_and_is_reused_from_it(converted, tmp_path):
    cfg, _ = converted
    _, tasks = convert.plan(cfg.replace(results_dir=str(tmp_path)))
    task = dict(tasks[0], path=str(tmp_path / tasks[0]["name"]))
    result, reused = shardwriter.run_task(task, {"d0000000": 0, "d0000001": 1, "d0000002": 2})
    assert not reused and atomic.read_json(task["path"] + ".json") == result
    assert (
        result["num_records"] == len(task["items"]) == 8
        and result["task_sha256"] == task["task_sha256"]
    )
    again, reused = shardwriter.run_task(task, {})
    assert reused and again == result


class _FailingFsyncOs:
    """The os module as tfrecord sees it, with a disk that is full when a shard is fsynced."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_writer_thread_error_reaches_the_caller_and_leaves_no_file(
    converted, tmp_path, monkeypatch
):
    cfg, _ = converted
    _, tasks = convert.plan(cfg.replace(results_dir=str(tmp_path / "results")))
    out = tmp_path / "out"
    out.mkdir()
    task = dict(tasks[0], path=str(out / tasks[0]["name"]))
    monkeypatch.setattr(tfrecord, "os", _FailingFsyncOs())
    with pytest.raises(OSError) as failure:
        shardwriter.run_task(task, {"d0000000": 0, "d0000001": 1, "d0000002": 2})
    assert failure.value.errno == errno.ENOSPC and failure.value.filename == task["path"]
    assert os.listdir(str(out)) == []  # neither the shard, its temp file nor a sidecar
    assert not [t for t in threading.enumerate() if t.name == "shard-writer"]
