"""Non-UTF-8 file and class-folder names are refused at conversion, naming the path (issue 12,
item 9).

A name whose bytes are not UTF-8 (a Latin-1 `caf\\xe9.JPEG`, say) reaches Python with a lone
surrogate in it; before, the conversion went on and failed later writing it. Now the listing
(resnext.data.sources.scan, resnext.data.names) refuses it before anything is written: exit 2, one
line naming the path with its bytes shown as \\xNN, the source tree unchanged, no data or run
folder made. A UTF-8 name with non-ASCII letters converts as before.
"""

import os

import pytest

from resnext import atomic
from support.trees import write_tree

import hostile as H

LATIN1 = b"caf\xe9"  # 'café' in Latin-1: not valid UTF-8


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return write_tree(tmp_path_factory.mktemp("names-tree"))


def _bad_file(root):
    """A JPEG in a class folder, renamed to a Latin-1 name; -> its path as bytes."""
    folder = os.path.join(str(root), "train", "d0000001")
    first = sorted(os.listdir(folder))[0]
    target = os.fsencode(folder) + b"/" + LATIN1 + b".JPEG"
    os.rename(os.fsencode(os.path.join(folder, first)), target)
    return target


def _bad_class(root):
    """A class folder (in train/ and val/) renamed to a Latin-1 name; -> the train one as bytes."""
    for split in ("val", "train"):
        base = os.fsencode(os.path.join(str(root), split))
        os.rename(base + b"/d0000002", base + b"/" + LATIN1)
    return os.fsencode(os.path.join(str(root), "train")) + b"/" + LATIN1


def _bad_stray(root):
    """A file beside the class folders (a plan-level skip, whose path the manifest records)."""
    path = os.fsencode(os.path.join(str(root), "val")) + b"/" + LATIN1 + b"\n.txt"
    with open(path, "wb") as f:
        f.write(b"notes\n")
    return path


CASES = {"file": _bad_file, "class-folder": _bad_class, "stray-file": _bad_stray}


def _config(tmp_path, root):
    return H.convert_config(tmp_path / "convert.yaml", tmp_path, root, "names")


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_name_that_is_not_utf8_is_refused_naming_the_path(
    case, pristine, tmp_path, caplog, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    root = H.copy_tree(pristine, tmp_path)
    bad = CASES[case](root)
    config = _config(tmp_path, root)
    before = H.tree(tmp_path)
    line, _ = H.refused(["convert", "--config", config], caplog)
    shown = os.fsdecode(bad).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    assert shown.replace("\n", "\\x0a") in line and "not valid UTF-8" in line, line
    assert "Rename it" in line
    assert H.tree(tmp_path) == before  # the tree (the victim) and everything else unchanged
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()


def test_a_utf8_name_with_other_letters_converts(pristine, tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = H.copy_tree(pristine, tmp_path)
    folder = root / "train" / "d0000001"
    first = sorted(os.listdir(str(folder)))[0]
    os.rename(str(folder / first), str(folder / "café ü <b>.JPEG"))
    code, text = H.main(["convert", "--config", _config(tmp_path, root)], caplog)
    assert code == 0, text
    manifest = atomic.read_json(str(tmp_path / "data" / "manifest.json"))
    assert manifest["counts"]["train"]["written"] == 24
