"""Issue 12 item 2: the converter never deletes or overwrites a file it cannot prove it wrote (its
own manifest.json or sidecar names it); a folder holding such files is refused before anything
changes, naming them. The victims are shards written by TensorFlow's own tf.io.TFRecordWriter
(someone else's dataset), a manifest.json of another tool, a stray JSON named like a sidecar.
Each case asserts every victim's sha256, the exit code, the message naming the files, and that
nothing outside the run's folders changed.
"""

import logging
import os
import shutil

import pytest

from resnext import atomic, cli
from resnext.data import convert, owned, shardwriter, tfrecord
from support.trees import write_tree

import hostile as H
import rel_support as S


def _tf_shards(folder, names, records=3):
    """Shards of someone else's dataset, written by TensorFlow's own writer (TF-slim keys)."""
    import tensorflow as tf

    os.makedirs(str(folder), exist_ok=True)
    for k, name in enumerate(names):
        with tf.io.TFRecordWriter(os.path.join(str(folder), name)) as writer:
            for i in range(records):
                data = tf.train.BytesList(value=[b"x" * (i + k)])
                feature = {
                    "image/encoded": tf.train.Feature(bytes_list=data),
                    "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
                }
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
    return folder


def _state(folder):
    """{relative path: sha256} of every file under folder: what 'unchanged' means."""
    return {p: S.file_sha256(os.path.join(str(folder), p)) for p in S.listing(folder)}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_tree(tmp_path_factory.mktemp("owns-tree"))


@pytest.fixture
def config(tmp_path, tree):
    """Factory: a config file converting `tree` into data_url (results under tmp_path/results)."""

    def make(data_url, **changes):
        changes = dict(changes, data_url=str(data_url))
        return H.convert_config(tmp_path / "convert.yaml", tmp_path, tree, "owns", **changes)

    return make


def _convert(config_path, caplog):
    caplog.clear()
    with caplog.at_level(logging.INFO):
        code = cli.main(["convert", "--config", config_path])
    return code, caplog.text


def test_a_folder_of_someone_elses_shards_is_refused_and_left_alone(tmp_path, config, caplog):
    """The issue's case: data_url points at TF-slim shards without manifest.json. Before the fix the
    converter removed every one of them."""
    names = [
        "train-00000-of-00002",
        "train-00001-of-00002",
        "validation-00000-of-00001",
        "validation-00000-of-00004",
    ]
    shards = _tf_shards(tmp_path / "their-shards", names)
    before = _state(tmp_path / "their-shards")
    code, text = _convert(config(shards), caplog)
    assert code == 2 and "Traceback" not in text
    assert ", ".join(names) in text
    assert str(shards) in text and "Nothing was changed" in text
    assert _state(shards) == before
    assert not (tmp_path / "results").exists()  # nothing written anywhere else either


@pytest.mark.parametrize(
    "name,text",
    [
        ("manifest.json", '{"files": ["a", "b"], "made_by": "another tool"}\n'),
        ("train-00000-of-00002.json", '{"labels": [1, 2, 3]}\n'),
    ],
    ids=["manifest-of-another-tool", "json-named-like-a-sidecar"],
)
def test_another_tools_json_named_like_ours_is_refused_and_kept(
    tmp_path, config, caplog, name, text
):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / name).write_text(text)
    (folder / "README").write_text("not named like ours: never looked at\n")
    before = _state(folder)
    code, out = _convert(config(folder), caplog)
    assert code == 2 and "1 file(s)" in out and ": %s." % name in out and _state(folder) == before


def test_a_shard_dropped_into_a_converted_folder_is_refused(tmp_path, config, caplog):
    """Our manifest proves our own shards, not one copied in beside them."""
    folder = tmp_path / "data"
    assert _convert(config(folder), caplog)[0] == 0
    _tf_shards(folder, ["train-00003-of-00004"])
    before = _state(folder)
    code, text = _convert(config(folder, train_shards=4), caplog)  # a replan replaces every shard
    assert code == 2 and "train-00003-of-00004" in text and "1 file(s)" in text
    assert _state(folder) == before


def test_its_own_shards_of_an_earlier_plan_are_replaced(tmp_path, config, caplog):
    """What the manifest lists is ours: a new shard count replaces those shards, and temp files of a
    killed write (ours by their name) go too; other files stay."""
    folder = tmp_path / "data"
    assert _convert(config(folder), caplog)[0] == 0
    (folder / "train-00000-of-00002.tmp-4242").write_bytes(b"half a shard")
    (folder / "notes.txt").write_text("mine\n")
    code, text = _convert(config(folder, train_shards=3), caplog)
    assert code == 0, text
    names = sorted(os.listdir(str(folder)))
    assert names == [
        "manifest.json",
        "notes.txt",
        "train-00000-of-00003",
        "train-00001-of-00003",
        "train-00002-of-00003",
        "validation-00000-of-00001",
    ]
    assert (folder / "notes.txt").read_text() == "mine\n"


def test_a_killed_conversion_stays_provably_ours(tmp_path, config, caplog, monkeypatch):
    """At the instant each shard is renamed into place its sidecar already names it, so a kill at
    any point leaves no shard of ours that a rerun would have to refuse."""
    folder = tmp_path / "data"
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        shard = owned.SIDECAR_RE.match(os.path.basename(dst) + shardwriter.SIDECAR_SUFFIX)
        if shard and ".tmp-" in src:
            seen.append((os.path.basename(dst), os.path.isfile(shardwriter.sidecar_path(dst))))
        return real_replace(src, dst)

    monkeypatch.setattr(tfrecord.os, "replace", replace)
    assert _convert(config(folder), caplog)[0] == 0
    assert seen and all(named for _, named in seen), seen


def test_a_rerun_after_a_kill_before_the_manifest_resumes(tmp_path, config, caplog):
    """What a kill leaves after one shard (it, its sidecar, no manifest) is ours: reused."""
    folder = tmp_path / "data"
    assert _convert(config(folder), caplog)[0] == 0
    manifest = atomic.read_json(str(folder / "manifest.json"))
    reference = _state(folder)
    shutil.rmtree(str(folder))
    path = config(folder)
    from resnext.config import load_config

    cfg = load_config([path])
    _, tasks = convert.plan(cfg)
    os.makedirs(str(folder))
    shardwriter.run_task(tasks[0], manifest["label_map"])  # one shard and its sidecar; "killed"
    code, text = _convert(path, caplog)
    assert code == 0 and "reused 1 of 3 shards" in text, text
    assert _state(folder) == reference
