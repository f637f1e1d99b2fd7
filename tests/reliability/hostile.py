"""Helpers for the hostile-input tests (issue 12, items 5-16): run `resnext` in this process, and
prove that a refused input changed nothing: the victim file's sha256, and every file outside the
run's folders.
"""

import logging
import os

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
