"""Disk full while writing a checkpoint, a shard or a result: a clear error, the previous checkpoint
(or result) intact, nothing partial left that counts; once space is freed the rerun completes.

The full disk is real: a small tmpfs mounted for the test (root and CAP_SYS_ADMIN needed; skipped
otherwise). One more test injects ENOSPC into the atomic writer, which needs no mount.
"""

import errno
import os
import re
import subprocess

import pytest

from resnext import atomic, checkpoints, paths
from resnext.backends import get_backend
from resnext.evaluate import evaluate
from resnext.train import loop

import rel_support as S

SHARD = re.compile(r"^(train|validation)-\d{5}-of-\d{5}$")


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs at tmp_path/disk, unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        pytest.skip(
            "cannot mount a tmpfs here (%s): needs root with CAP_SYS_ADMIN" % mount.stderr.strip()
        )
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _fill(disk, leave_bytes):
    """Fill the disk so that about leave_bytes stay free;
    -> the filler file (delete it to free space)."""
    st = os.statvfs(str(disk))
    filler = disk / "filler"
    with open(str(filler), "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave_bytes))
    return filler


def _fill_checkpoint_disk(digits_data, disk):
    cfg = S.tiny_config(digits_data, disk / "results", "full")
    loop.train_block(cfg, 4, get_backend(cfg, 0, 1))
    prefix4 = paths.ckpt_prefix(cfg.train_dir, 4)
    sha4 = checkpoints.sha256(prefix4)
    size = sum(os.path.getsize(p) for p in checkpoints.files_of(prefix4))
    filler = _fill(disk, size // 4)  # room for the metrics lines, not for another checkpoint
    with pytest.raises(Exception) as failure:
        loop.train_block(cfg, 8, get_backend(cfg, 0, 1))
    return cfg, sha4, filler, failure.value


def test_a_full_disk_during_a_checkpoint_save_keeps_the_previous_one(small_disk, digits_data):
    cfg, sha4, filler, error = _fill_checkpoint_disk(digits_data, small_disk)
    message = str(error)
    assert "No space left on device" in message, message
    assert paths.ckpt_dir(cfg.train_dir) in message, message
    assert checkpoints.complete_steps(cfg.train_dir) == [4]
    assert checkpoints.sha256(paths.ckpt_prefix(cfg.train_dir, 4)) == sha4
    assert S.checkpoint_tensors(paths.ckpt_prefix(cfg.train_dir, 4))  # still restores
    assert S.partial_checkpoint_files(cfg.train_dir, 8) == []  # TensorFlow removed its temp file
    assert not os.path.exists(paths.block_record(cfg.train_dir, 2))
    os.remove(str(filler))
    loop.train_block(cfg, 8, get_backend(cfg, 0, 1))
    assert checkpoints.complete_steps(cfg.train_dir) == [4, 8]
    assert S.metrics_steps(cfg.train_dir) == [2, 4, 6, 8]
    assert checkpoints.sha256(paths.ckpt_prefix(cfg.train_dir, 4)) == sha4


def test_the_checkpoint_save_error_says_what_is_intact_and_what_to_do(small_disk, digits_data):
    cfg, _, _, error = _fill_checkpoint_disk(digits_data, small_disk)
    message = str(error)
    prefix8 = paths.ckpt_prefix(cfg.train_dir, 8)
    assert message.startswith("could not write checkpoint %s" % prefix8), message
    assert (
        "step 4, is intact" in message
        and "Free space" in message
        and "Detected at node" not in message
    )


def test_a_full_disk_during_conversion_leaves_no_shard_that_counts(small_disk, tmp_path):
    from resnext.data import convert
    from resnext.data.tfrecord import check_file
    from support.trees import write_tree

    source = write_tree(tmp_path / "source", 12, (4,) * 10, 32)
    reference = convert.convert(
        S.tiny_config(tmp_path / "ref-data", tmp_path / "results", source_dir=source)
    )
    ref_shards = {s["name"]: s for split in reference["splits"].values() for s in split["shards"]}
    cfg = S.tiny_config(small_disk / "data", tmp_path / "results", source_dir=source)
    filler = _fill(small_disk, 80 * 1024)  # about one train shard
    with pytest.raises(Exception) as failure:
        convert.convert(cfg)
    assert "No space left on device" in str(failure.value), failure.value
    data = small_disk / "data"
    left = os.listdir(str(data)) if data.exists() else []
    assert "manifest.json" not in left
    assert [n for n in left if not SHARD.match(n)] == []  # no temp file left behind
    for name in left:  # whatever is named like a shard is whole
        assert check_file(str(data / name)) == ref_shards[name]["num_records"]
        assert S.file_sha256(data / name) == ref_shards[name]["sha256"]
    os.remove(str(filler))
    manifest = convert.convert(cfg)
    assert {
        s["name"]: s["sha256"] for split in manifest["splits"].values() for s in split["shards"]
    } == {n: s["sha256"] for n, s in ref_shards.items()}


def test_a_full_disk_during_conversion_names_the_shard(small_disk, tmp_path):
    from resnext.data import convert
    from support.trees import write_tree

    source = write_tree(tmp_path / "source", 12, (4,) * 10, 32)
    cfg = S.tiny_config(small_disk / "data", tmp_path / "results", source_dir=source)
    _fill(small_disk, 80 * 1024)
    with pytest.raises(OSError) as failure:
        convert.convert(cfg)
    assert failure.value.errno == errno.ENOSPC and str(small_disk / "data") in str(failure.value), (
        failure.value
    )


def test_a_full_disk_error_names_the_file(small_disk, digits_data, tmp_path):
    cfg = S.tiny_config(digits_data, tmp_path / "results", "named")
    loop.train_block(cfg, 4, get_backend(cfg, 0, 1))
    out = small_disk / "eval" / "step-4.json"
    out.parent.mkdir()
    _fill(small_disk, 0)
    with pytest.raises(OSError) as failure:
        evaluate(cfg, paths.ckpt_prefix(cfg.train_dir, 4), str(out))
    # the first file written (the per-image predictions beside the result) is the one named
    written = str(small_disk / "eval" / "step-4.predictions.npz")
    assert failure.value.errno == errno.ENOSPC and written in str(failure.value), failure.value
    assert not out.exists()


class _FullDiskOs:
    """The os module as resnext.atomic sees it, with a disk that is full at fsync time."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def fsync(self, fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_failed_result_write_keeps_the_previous_result(tiny_cfg, monkeypatch):
    """ENOSPC injected into the atomic writer: the evaluation fails loudly, the earlier eval JSON
    stays whole and no temp file is left."""
    cfg = tiny_cfg()
    loop.train_block(cfg, 4, get_backend(cfg, 0, 1))
    prefix = paths.ckpt_prefix(cfg.train_dir, 4)
    first = evaluate(cfg, prefix)
    path = os.path.join(cfg.run_dir, "eval", "step-4.json")
    rows = os.path.join(cfg.run_dir, "eval", "step-4.predictions.npz")
    before, rows_before = open(path, "rb").read(), open(rows, "rb").read()
    monkeypatch.setattr(atomic, "os", _FullDiskOs(os))
    with pytest.raises(OSError, match="No space left on device"):
        evaluate(cfg, prefix)
    monkeypatch.undo()
    assert open(path, "rb").read() == before and S.read_json(path)["top1"] == first["top1"]
    assert open(rows, "rb").read() == rows_before
    # no temp file left behind; besides the result and its predictions only the TensorBoard event
    # file of the first run
    assert sorted(
        n for n in os.listdir(os.path.dirname(path)) if not n.startswith("events.out.tfevents")
    ) == ["step-4.json", "step-4.predictions.npz"]
