"""Two `resnext convert` runs on one data folder: the second refuses at once, naming the first
(issue 12, item 15).

Before, both converted into the same folder at once: each cleared and rewrote the other's shards
and sidecars, and the last manifest won. Now a conversion holds <data>/.convert.lock
(atomic.lock_in_place, the helper train/.lock uses: flock, opened without following a link) from
its plan to its manifest; a second one exits 2 before it changes anything, naming the first's pid
and the lock. A killed conversion's lock is free at once (the kernel drops a flock with its
holder), so rerunning the command, as README's "After a crash" says, just works.
"""

import os
import signal
import subprocess
import sys

from support.trees import write_tree

import hostile as H
import rel_support as S

# the first conversion: the real command, paused once it holds the lock (its plan is made, nothing
# in the folder changed yet) until the test lets it go on or kills it
FIRST = r"""
import os, sys, time
from resnext import cli
from resnext.data import convert
real = convert._convert
def paused(*args, **kwargs):
    open(sys.argv[2], "w").close()
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.05)
    return real(*args, **kwargs)
convert._convert = paused
sys.exit(cli.main(["convert", "--config", sys.argv[1]]))
"""


def _setup(tmp_path):
    tree = write_tree(tmp_path / "jpegs")
    return H.convert_config(tmp_path / "convert.yaml", tmp_path, tree, "lock")


def _start_first(tmp_path, config):
    held, go = tmp_path / "held", tmp_path / "go"
    first = subprocess.Popen(
        [sys.executable, "-c", FIRST, config, str(held), str(go)],
        env=S.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    S.wait_for(
        lambda: held.exists() or first.poll() is not None,
        timeout=300,
        what="the first conversion to hold the lock",
    )
    assert first.poll() is None, "the first conversion ended before it held the lock"
    return first, go


def test_a_second_conversion_is_refused_naming_the_first(tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = _setup(tmp_path)
    assert H.main(["convert", "--config", config], caplog)[0] == 0  # a converted folder
    first, go = _start_first(tmp_path, _setup_again(tmp_path, config))
    try:
        before = H.tree(tmp_path)
        line, _ = H.refused(["convert", "--config", config], caplog)
        lock = os.path.join(str(tmp_path / "data"), ".convert.lock")
        assert "pid %d (converting %s" % (first.pid, tmp_path / "jpegs") in line, line
        assert "is converting into %s (it holds %s)" % (tmp_path / "data", lock) in line, line
        assert H.tree(tmp_path) == before  # every shard, the manifest, the tree: unchanged
        go.touch()
        assert first.wait(timeout=300) == 0
    finally:
        if first.poll() is None:
            first.kill()
    assert not os.path.lexists(lock)  # the first removed it when it finished
    assert H.main(["convert", "--config", config], caplog)[0] == 0


def _setup_again(tmp_path, config):
    """The same conversion with another shard count: the first's plan replaces every shard."""
    import yaml

    with open(config) as f:
        values = yaml.safe_load(f)
    return H.write_yaml(tmp_path / "convert-3.yaml", dict(values, train_shards=3))


def test_a_killed_conversion_leaves_no_held_lock(tmp_path, caplog, monkeypatch):
    """SIGKILL while it holds the lock: rerunning the command converts (README, After a crash)."""
    monkeypatch.chdir(tmp_path)
    config = _setup(tmp_path)
    first, _ = _start_first(tmp_path, config)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=60)
    assert os.path.isfile(str(tmp_path / "data" / ".convert.lock"))  # left behind, not held
    code, text = H.main(["convert", "--config", config], caplog)
    assert code == 0, text
    assert os.path.isfile(str(tmp_path / "data" / "manifest.json"))
    assert not os.path.lexists(str(tmp_path / "data" / ".convert.lock"))  # taken, then removed


def test_a_link_planted_at_the_lock_is_refused(tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = _setup(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours\n")
    (tmp_path / "data").mkdir()
    os.symlink(str(victim), str(tmp_path / "data" / ".convert.lock"))
    before = H.tree(tmp_path)
    code, text = H.main(["convert", "--config", config], caplog)
    assert code == 2 and "Traceback" not in text, text
    assert (
        "refusing to write %s: it is a symbolic link" % (tmp_path / "data" / ".convert.lock")
        in text
    )
    assert H.tree(tmp_path) == before


HAND_EDITED = [  # (note written into the held lock, what the refusal names)
    (b'{"pid": 7, "source": "jpegs\\n- **Overall**: PASS", "started_utc": "now"}', "pid 7 ("),
    (b'{"pid": "7\\u001b[2J"}', "another conversion"),
    (b"\xff\xfe\x00binary", "another conversion"),
    (b"[" * 100000, "another conversion"),
    (b"[1, 2]", "another conversion"),
]


def test_a_hand_edited_note_in_a_held_lock_still_gives_one_line(tmp_path, caplog, monkeypatch):
    """The refusal quotes the holder's note: a newline, an escape, binary bytes, deep nesting or a
    list there must neither split the line nor raise (flock conflicts between two opens of one
    file, so this process holds the lock the stage is refused)."""
    from resnext import atomic

    monkeypatch.chdir(tmp_path)
    config = _setup(tmp_path)
    (tmp_path / "data").mkdir()
    lock = str(tmp_path / "data" / ".convert.lock")
    for note, named in HAND_EDITED:
        fd = atomic.lock_in_place(lock, {})
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, note, 0)  # at the start: lock_in_place's own note moved the offset
            before = H.tree(tmp_path)
            line, text = H.refused(["convert", "--config", config], caplog)
            assert " %s" % named in line, line
            assert "is converting into %s (it holds %s)" % (tmp_path / "data", lock) in line, line
            assert "Overall" not in text and "\x1b" not in text
            assert H.tree(tmp_path) == before  # the note too: a refused run writes nothing
        finally:
            os.close(fd)
