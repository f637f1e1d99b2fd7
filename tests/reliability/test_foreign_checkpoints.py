"""Checkpoints that are not this model's, or that TensorFlow cannot read (issue 12, items 5 and 14).

A plain Saver restore takes the checkpoint's shapes, so a checkpoint of another class count or of a
deeper architecture evaluated and exported with exit 0. Each case here must stop with exit 2 and one
line naming the checkpoint and the first variable that differs, leave the checkpoint's files as they
were (sha256), and write nothing, in the run's folders or anywhere else.

The checkpoints are written by TensorFlow's own Saver: a trained run of another class count, and
initialised graphs of other architectures.
"""

import glob
import os
import shutil

import pytest

from resnext import checkpoints, paths

import hostile as H
import rel_support as S


def _save_graph(prefix, arch="resnext_tiny", num_classes=10, extra=None):
    """Save an initialised inference graph of `arch` as checkpoint `prefix` (TensorFlow's Saver).

    extra: (name, shape) of one more variable, as a deeper model with the same first blocks has.
    """
    from resnext.compat import tf
    from resnext.model import build_logits

    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, [None, 32, 32, 3])
        build_logits(images, arch, num_classes, is_training=False)
        if extra:
            tf.get_variable(extra[0], extra[1], tf.float32, tf.zeros_initializer())
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            saver.save(sess, prefix, write_meta_graph=False)
    return prefix


@pytest.fixture(scope="module")
def foreign(tmp_path_factory, digits_data):
    """{case: checkpoint prefix} of checkpoints the tiny 10-class model must refuse, plus one of its
    own (trained, 'own'), under a folder outside any run."""
    from resnext.backends import get_backend
    from resnext.train import loop

    root = tmp_path_factory.mktemp("foreign")
    other = S.tiny_config(digits_data, root / "results", "twelve", num_classes=12)
    loop.train_block(other, 4, get_backend(other, 0, 1))
    own = S.tiny_config(digits_data, root / "results", "own")
    loop.train_block(own, 4, get_backend(own, 0, 1))
    ckpts = root / "ckpts"
    ckpts.mkdir()
    return {
        "classes": paths.ckpt_prefix(other.train_dir, 4),
        "arch": _save_graph(str(ckpts / "nobn" / "model.ckpt-4"), "resnext_tiny_nobn"),
        "deeper": _save_graph(
            str(ckpts / "deeper" / "model.ckpt-4"),
            extra=("stage4/block2/conv1/weights", [1, 1, 64, 32]),
        ),
        "own": paths.ckpt_prefix(own.train_dir, 4),
    }


# the first variable (by name) that differs, as the message must name it
FIRST = {
    "classes": "dense/bias has shape [12] in the checkpoint but [10] in the model",
    "arch": "stage1/block1/bn1/BatchNorm/beta is in the model but not in the checkpoint",
    "deeper": "stage4/block2/conv1/weights is in the checkpoint but not in the model",
}


def _copy_checkpoint(prefix, folder):
    """Copy checkpoint `prefix`'s files into `folder`; -> the copy's prefix."""
    os.makedirs(str(folder), exist_ok=True)
    for path in checkpoints.files_of(prefix):
        shutil.copy(path, str(folder))
    return os.path.join(str(folder), os.path.basename(prefix))


def _hashes(prefix):
    return {os.path.basename(p): H.sha256(p) for p in glob.glob(prefix + ".*")}


@pytest.mark.parametrize("stage", ["evaluate", "export"])
@pytest.mark.parametrize("case", sorted(FIRST))
def test_a_checkpoint_of_another_model_is_refused_naming_the_first_variable(
    stage, case, foreign, digits_data, tmp_path, caplog, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    victim = _copy_checkpoint(foreign[case], tmp_path / "given")
    config = H.tiny_config_file(tmp_path / "config.yaml", digits_data, tmp_path / "results")
    before, hashes = H.tree(tmp_path), _hashes(victim)
    code, text = H.main([stage, "--config", config, "--checkpoint", victim], caplog)
    assert code == 2, text
    assert (
        "checkpoint %s does not fit the configured model (arch resnext_tiny, num_classes 10)"
        % victim
        in text
        and FIRST[case] in text
        and "config.resolved.yaml" in text
    ), text
    assert "Traceback" not in text
    assert _hashes(victim) == hashes
    assert H.tree(tmp_path) == before  # no result, no export, nothing anywhere else


@pytest.mark.parametrize("stage", ["evaluate", "export"])
def test_the_model_s_own_checkpoint_still_restores(
    stage, foreign, digits_data, tmp_path, caplog, monkeypatch
):
    """The check passes a checkpoint of this model: training-only variables (Momentum slots, the
    global step) are in the checkpoint and not in the inference graph."""
    monkeypatch.chdir(tmp_path)
    config = H.tiny_config_file(tmp_path / "config.yaml", digits_data, tmp_path / "results")
    out = (
        ["--out", str(tmp_path / "step-4.json")]
        if stage == "evaluate"
        else ["--out-dir", str(tmp_path / "export")]
    )
    code, text = H.main([stage, "--config", config, "--checkpoint", foreign["own"]] + out, caplog)
    assert code == 0, text


def test_a_training_resume_from_a_checkpoint_of_another_model_gives_the_same_message(
    foreign, digits_data, tmp_path
):
    """Block 2 of a run whose step-4 checkpoint has 12 classes (copied in, as after a config edit
    or a mixed-up folder): the rank stops with the same line, not TensorFlow's restore report; the
    checkpoint stays, and block 2 writes no checkpoint."""
    cfg = S.tiny_config(digits_data, tmp_path / "results")
    victim = _copy_checkpoint(foreign["classes"], paths.ckpt_dir(cfg.train_dir))
    config = H.write_yaml(tmp_path / "config.yaml", cfg.to_dict())
    outside, hashes = H.tree(tmp_path, skip=("results/tiny",)), _hashes(victim)
    proc = S.run_cli("train", "--config", config, "--until-step", 8, check=False, cwd=str(tmp_path))
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert "checkpoint %s does not fit the configured model" % victim in proc.stdout
    assert FIRST["classes"] in proc.stdout and "run_name" in proc.stdout, proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout and "RestoreV2" not in proc.stdout, proc.stdout[-3000:]
    assert _hashes(victim) == hashes
    assert checkpoints.complete_steps(cfg.train_dir) == [4]
    assert not glob.glob(paths.ckpt_prefix(cfg.train_dir, 8) + "*")
    assert H.tree(tmp_path, skip=("results/tiny",)) == outside


# ---------------------------------------------------------------- item 14: a cut `.data` file


@pytest.mark.parametrize("stage", ["evaluate", "export"])
@pytest.mark.parametrize("part", ["data", "index"])
def test_a_truncated_checkpoint_file_is_named_in_one_line(
    stage, part, foreign, digits_data, tmp_path, caplog, monkeypatch
):
    """The `.data` file cut in half (a copy interrupted, a full disk): TensorFlow's restore fails
    with 'Read less bytes than requested' inside its graph-execution report. Now: exit 2, one line
    naming the checkpoint, its files with their sizes, and what to do; the files stay as they
    are."""
    monkeypatch.chdir(tmp_path)
    victim = _copy_checkpoint(foreign["own"], tmp_path / "given")
    cut = victim + (".data-00000-of-00001" if part == "data" else ".index")
    with open(cut, "r+b") as f:
        f.truncate(os.path.getsize(cut) // 2)
    config = H.tiny_config_file(tmp_path / "config.yaml", digits_data, tmp_path / "results")
    before, hashes = H.tree(tmp_path), _hashes(victim)
    line, text = H.refused([stage, "--config", config, "--checkpoint", victim], caplog)
    assert "cannot be read" in line and victim in line, text
    assert "%s: %d bytes" % (os.path.basename(cut), os.path.getsize(cut)) in line, text
    assert "train that block again" in line, text
    assert "Graph execution error" not in text and "RestoreV2" not in text, text
    assert _hashes(victim) == hashes
    assert H.tree(tmp_path) == before
