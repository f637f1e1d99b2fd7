"""`resnext index` holds <run>/data/.convert.lock too (resnext.data.folderlock): it and
`resnext convert` write the same folder (<run>/data/manifest.json), so two of them never interleave.

Before, index took no lock: two index runs, or an index and a conversion of the same run, wrote
<run>/data at once and the last manifest won. Now the second is refused at once, exit 2, in the
words a second conversion gets, naming the holder's pid and what it is doing; nothing is changed.
Each holder here is a real `resnext` process paused once it holds the lock.
"""

import contextlib
import os
import subprocess
import sys

from support import foreign_shards as foreign
from support.trees import write_tree

import hostile as H
import rel_support as S

# `resnext <stage> --config <yaml>`, paused once the stage holds the folder's lock (inside
# folderlock.holding: convert's plan or index's is made, nothing written yet) until the test
# creates the file argv[4]
PAUSED = r"""
import os, sys, time
from resnext import cli
from resnext.data import convert, index
stage = sys.argv[1]
module, name = {"convert": (convert, "_convert"), "index": (index, "_index")}[stage]
real = getattr(module, name)
def paused(*args, **kwargs):
    open(sys.argv[3], "w").close()
    while not os.path.exists(sys.argv[4]):
        time.sleep(0.05)
    return real(*args, **kwargs)
setattr(module, name, paused)
sys.exit(cli.main([stage, "--config", sys.argv[2]]))
"""

CLASSES = 3


def _configs(tmp_path):
    """(index config, convert config, data folder, its lock) of one run: index adopts tmp/shards
    (TF-slim, labels 1..CLASSES), convert converts tmp/jpegs; both write <results>/lock/data."""
    shards = str(tmp_path / "shards")
    foreign.write_folder(shards, foreign.digit_items(CLASSES, 4, 2, size=16), "tfslim")
    common = dict(results_dir=str(tmp_path / "results"), run_name="lock", image_size=16)
    index_cfg = H.write_yaml(
        tmp_path / "index.yaml",
        dict(
            common,
            data_url=shards,
            label_offset=1,
            num_classes=CLASSES + 1,
            num_train_images=CLASSES * 4,
        ),
    )
    convert_cfg = H.write_yaml(
        tmp_path / "convert.yaml",
        dict(
            common,
            source_dir=write_tree(tmp_path / "jpegs"),
            num_classes=3,
            train_shards=2,
            validation_shards=1,
            convert_workers=1,
            num_train_images=24,
        ),
    )
    data = tmp_path / "results" / "lock" / "data"
    return index_cfg, convert_cfg, data, str(data / ".convert.lock")


@contextlib.contextmanager
def _holder(tmp_path, stage, config):
    """A real `resnext <stage>` holding the lock for the with-block; it then goes on and must
    finish (exit 0); killed if the block fails."""
    held, go = tmp_path / ("held-" + stage), tmp_path / ("go-" + stage)
    first = subprocess.Popen(
        [sys.executable, "-c", PAUSED, stage, config, str(held), str(go)],
        env=S.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        S.wait_for(
            lambda: held.exists() or first.poll() is not None,
            timeout=300,
            what="the first %s to hold the lock" % stage,
        )
        assert first.poll() is None, "the first %s ended before it held the lock" % stage
        yield first
        go.touch()
        assert first.wait(timeout=300) == 0
    finally:
        if first.poll() is None:
            first.kill()


def _refused(tmp_path, caplog, stage, config):
    """Run `resnext <stage>` while another holds the lock: exit 2, one ERROR line (returned),
    no traceback, every file under tmp_path unchanged."""
    before = H.tree(tmp_path)
    code, text = H.main([stage, "--config", config], caplog)
    assert code == 2 and "Traceback" not in text, text
    (line,) = [ln for ln in text.splitlines() if "ERROR" in ln]
    assert H.tree(tmp_path) == before, line
    return line


def test_index_while_an_index_or_a_conversion_of_the_run_is_refused(tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    index_cfg, convert_cfg, data, lock = _configs(tmp_path)
    with _holder(tmp_path, "index", index_cfg) as first:
        holder = "pid %d (indexing %s since " % (first.pid, tmp_path / "shards")
        doing = "is indexing into %s (it holds %s); nothing was changed" % (data, lock)
        for stage, config in (("index", index_cfg), ("convert", convert_cfg)):
            line = _refused(tmp_path, caplog, stage, config)
            assert holder in line and doing in line, line
    assert os.path.isfile(str(data / "manifest.json")) and not os.path.lexists(lock)
    assert H.main(["index", "--config", index_cfg], caplog)[0] == 0  # free once the first is done


def test_index_during_a_conversion_of_the_run_is_refused(tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    index_cfg, convert_cfg, data, lock = _configs(tmp_path)
    with _holder(tmp_path, "convert", convert_cfg) as first:
        line = _refused(tmp_path, caplog, "index", index_cfg)
        assert "pid %d (converting %s since " % (first.pid, tmp_path / "jpegs") in line, line
        assert "is converting into %s (it holds %s)" % (data, lock) in line, line
    assert not os.path.lexists(lock)
