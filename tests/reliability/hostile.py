"""Helpers for the hostile-input tests (issue 12, items 5-16): run `resnext` in this process (a
refusal: one ERROR line, no traceback), write their configs and photo trees, and
prove that a refused input changed nothing: the victim file's sha256, and every file outside the
run's folders.
"""

import logging
import os
import shutil

import yaml

import rel_support as S


def sha256(path):
    return S.file_sha256(path)


def tree(root, skip=()):
    """{relative path: sha256 (or the link target, for a symlink)} of every file under root.

    Folders named in `skip` (relative paths) are left out: the run's folders, which may change.
    """
    root = str(root)
    out = {}
    for base, dirs, files in os.walk(root):
        rel_base = os.path.relpath(base, root)
        dirs[:] = [d for d in dirs if os.path.normpath(os.path.join(rel_base, d)) not in skip]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(base, d))]:
            path = os.path.join(base, name)
            rel = os.path.normpath(os.path.join(rel_base, name))
            out[rel] = "-> " + os.readlink(path) if os.path.islink(path) else sha256(path)
    return out


def main(argv, caplog):
    """`resnext <argv>` in this process -> (exit code, everything it logged).

    An exception main() lets through is re-raised: a traceback is never an acceptable outcome.
    """
    from resnext import cli

    caplog.clear()
    with caplog.at_level(logging.INFO):
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
    return code, caplog.text


def write_yaml(path, values):
    with open(str(path), "w") as f:
        yaml.safe_dump(values, f, sort_keys=True)
    return str(path)


def tiny_config_file(path, data_dir, results_dir, run_name="tiny", **changes):
    """A config file of the tiny variant (tests/support/paths.py TINY) with keys changed."""
    return write_yaml(path, S.tiny_config(data_dir, results_dir, run_name, **changes).to_dict())


def convert_config(path, tmp_path, source_dir, run_name, **changes):
    """A config file converting source_dir (a support.trees.write_tree tree: 3 classes, 24 train
    images, 16 px) into tmp_path/data, with the run under tmp_path/results; keys changed."""
    values = dict(
        results_dir=str(tmp_path / "results"),
        run_name=run_name,
        source_dir=str(source_dir),
        num_classes=3,
        train_shards=2,
        validation_shards=1,
        convert_workers=1,
        num_train_images=24,
        image_size=16,
        data_url=str(tmp_path / "data"),
    )
    values.update(changes)
    return write_yaml(path, values)


def error_line(text):
    """The one ERROR line of a refused command's log `text` (no traceback): -> that line."""
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if "ERROR" in line]
    assert len(lines) == 1, text
    return lines[0]


def refused(argv, caplog, code=2):
    """`resnext <argv>` in this process exits `code` with one ERROR line and no traceback;
    -> (that line, everything it logged)."""
    got, text = main(argv, caplog)
    assert got == code, text
    return error_line(text), text


def copy_tree(pristine, tmp_path):
    """A fresh copy of a module's photo tree (pristine) at tmp_path/jpegs, for a test to spoil."""
    root = tmp_path / "jpegs"
    shutil.copytree(str(pristine), str(root))
    return root
