"""Issue 12 item 3: files written in place (train/.lock, .npu-pool/device-N.lock,
train/metrics.jsonl, train/logs/rank-N.log, and the temp file of every atomic write) are never
opened through a symbolic link, a FIFO or a second hard link. Each case plants one pointing at a
victim outside the run's folders and asserts: the victim's sha256 (and its folder's listing)
unchanged, the exit code, the message naming the planted file, and nothing started.
"""

import errno
import logging
import os

import pytest

from resnext import atomic, cli, devicepool, paths
from resnext.data import tfrecord
from resnext.train import launch

import rel_support as S

VICTIM_TEXT = b"an unrelated file of the user's\n"


@pytest.fixture
def victim(tmp_path):
    """A file outside every run folder, and how to prove it (and its folder) untouched."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    path = folder / "precious.txt"
    path.write_bytes(VICTIM_TEXT)
    before = (S.file_sha256(path), S.listing(folder))

    def unchanged():
        now = (S.file_sha256(path), S.listing(folder))
        return now == before and path.read_bytes() == VICTIM_TEXT

    return path, unchanged


def _main(argv, caplog):
    caplog.clear()
    with caplog.at_level(logging.INFO):
        code = cli.main([str(a) for a in argv])
    return code, caplog.text


def _plant(link, target):
    os.makedirs(os.path.dirname(str(link)), exist_ok=True)
    os.symlink(str(target), str(link))


@pytest.mark.parametrize(
    "flags",
    [
        os.O_WRONLY | os.O_APPEND | os.O_CREAT,
        os.O_RDWR | os.O_CREAT,
        os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    ],
)
def test_open_in_place_refuses_a_symbolic_link_naming_it(tmp_path, victim, flags):
    path, unchanged = victim
    link = tmp_path / "run" / "metrics.jsonl"
    _plant(link, path)
    with pytest.raises(atomic.UnsafeFile) as refused:
        atomic.open_in_place(str(link), flags)
    assert str(link) in str(refused.value) and "symbolic link" in str(refused.value)
    assert refused.value.errno == errno.ELOOP and unchanged() and os.path.islink(str(link))


def test_a_dangling_link_is_refused_and_creates_nothing(tmp_path):
    target = tmp_path / "elsewhere" / "new-file"
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "run" / ".lock"
    _plant(link, target)
    with pytest.raises(atomic.UnsafeFile):
        atomic.open_in_place(str(link), os.O_RDWR | os.O_CREAT)
    assert not target.exists()


def test_a_hard_link_is_refused_before_anything_is_truncated(tmp_path, victim):
    path, unchanged = victim
    other = tmp_path / "run" / "rank-0.log"
    other.parent.mkdir()
    os.link(str(path), str(other))
    with pytest.raises(atomic.UnsafeFile) as refused:
        atomic.open_in_place(str(other), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    assert "hard links" in str(refused.value) and str(other) in str(refused.value)
    os.remove(str(other))  # the planted second name, so the folder listing is as before
    assert unchanged()


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "metrics.jsonl"
    os.mkfifo(str(fifo))
    for flags in (os.O_WRONLY | os.O_APPEND | os.O_CREAT, os.O_RDWR | os.O_CREAT):
        with pytest.raises(atomic.UnsafeFile) as refused:
            atomic.open_in_place(str(fifo), flags)
        assert "not a regular file" in str(refused.value)


def test_a_plain_file_and_a_link_in_a_parent_folder_are_fine(tmp_path):
    real = tmp_path / "big-disk"
    real.mkdir()
    os.symlink(str(real), str(tmp_path / "results"))  # results_dir on another disk: users do that
    path = tmp_path / "results" / "train" / "metrics.jsonl"
    atomic.append_line(str(path), '{"step": 1}')
    atomic.append_line(str(path), '{"step": 2}')
    assert (real / "train" / "metrics.jsonl").read_text() == '{"step": 1}\n{"step": 2}\n'


def test_metrics_lines_never_go_through_a_link(tmp_path, victim):
    path, unchanged = victim
    link = tmp_path / "results" / "tiny" / "train" / "metrics.jsonl"
    _plant(link, path)
    with pytest.raises(atomic.UnsafeFile):
        atomic.append_line(str(link), '{"step": 2}')
    assert unchanged()


def test_an_atomic_write_refuses_a_link_at_its_temp_name(tmp_path, victim):
    """The temp name (<file>.tmp-<pid>) is predictable: a link planted there must not be written
    through, nor removed (it is not ours)."""
    path, unchanged = victim
    out = tmp_path / "eval" / "step-4.json"
    _plant(atomic.tmp_name(str(out)), path)
    with pytest.raises(atomic.UnsafeFile) as refused:
        atomic.write_json(str(out), {"top1": 0.5})
    assert atomic.tmp_name(str(out)) in str(refused.value)
    assert unchanged() and not out.exists() and os.path.islink(atomic.tmp_name(str(out)))


def test_a_shard_temp_file_refuses_a_link(tmp_path, victim):
    path, unchanged = victim
    shard = tmp_path / "data" / "train-00000-of-00001"
    _plant(atomic.tmp_name(str(shard)), path)
    with pytest.raises(atomic.UnsafeFile):
        tfrecord.write_records(str(shard), [b"record"])
    assert unchanged() and not shard.exists() and os.path.islink(atomic.tmp_name(str(shard)))


def test_the_run_lock_refuses_a_link(tiny_cfg, victim):
    path, unchanged = victim
    cfg = tiny_cfg()
    _plant(paths.train_lock(cfg.train_dir), path)
    with pytest.raises(atomic.UnsafeFile) as refused:
        with launch.run_lock(cfg, 4):
            pass
    assert os.path.join(cfg.train_dir, ".lock") in str(refused.value) and unchanged()


def _no_ranks(monkeypatch):
    started = []
    monkeypatch.setattr(launch.subprocess, "Popen", lambda *a, **k: started.append(a) or 1 / 0)
    return started


@pytest.mark.parametrize("planted", ["logs/rank-0.log", "metrics.jsonl", ".lock"])
def test_train_refuses_a_planted_link_before_any_rank_starts(
    tiny_cfg, tmp_path, victim, caplog, monkeypatch, planted
):
    path, unchanged = victim
    cfg = tiny_cfg()
    config = S.write_config(cfg, tmp_path / "tiny.yaml")
    link = os.path.join(cfg.train_dir, planted)
    _plant(link, path)
    started = _no_ranks(monkeypatch)
    code, text = _main(["train", "--config", config, "--until-step", 4], caplog)
    assert code == 2 and started == [] and unchanged()
    assert "refusing to write %s: it is a symbolic link" % link in text
    assert "Traceback" not in text


def test_train_with_two_ranks_opens_every_log_before_starting_one(
    tiny_cfg, tmp_path, victim, caplog, monkeypatch
):
    path, unchanged = victim
    cfg = tiny_cfg(rank_size=2)
    config = S.write_config(cfg, tmp_path / "tiny.yaml")
    _plant(os.path.join(cfg.train_dir, "logs", "rank-1.log"), path)
    started = _no_ranks(monkeypatch)
    code, text = _main(["train", "--config", config, "--until-step", 4], caplog)
    assert code == 2 and started == [] and unchanged() and "rank-1.log" in text


def test_with_device_refuses_a_linked_device_lock(tmp_path, victim, caplog):
    path, unchanged = victim
    pool = tmp_path / "results" / ".npu-pool"
    _plant(pool / "device-0.lock", path)
    marker = tmp_path / "ran"
    argv = ["with-device", "--pool", pool, "--devices", "0", "--", "touch", marker]
    code, text = _main(argv, caplog)
    assert code == 2 and not marker.exists() and unchanged()
    assert "refusing to write %s" % (pool / "device-0.lock") in text


def test_a_device_lock_that_is_a_plain_file_still_works(tmp_path):
    pool = tmp_path / ".npu-pool"
    pool.mkdir()
    (pool / "device-3.lock").write_text("12345\n")  # left by an earlier job
    with devicepool.acquire(str(pool), [3]) as ids:
        assert ids == [3] and (pool / "device-3.lock").read_text() == "%d\n" % os.getpid()
