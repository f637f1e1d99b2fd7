"""Config YAML that is not UTF-8, nested too deeply, an alias bomb, or with a key given twice is
refused by the loader (resnext.yamlload.Loader, a SafeLoader), naming the file (issue 12, item 11).

Before: a Latin-1 byte ended `resnext` in a UnicodeDecodeError traceback; 5000 nested brackets in
a RecursionError; nine lines of aliases ("billion laughs", 10^9 values once expanded) in minutes
of validation and hashing; and of two `batch_size` lines the last one silently won. Now each is one
line naming the file (or the --set value) and where, exit 2, before anything is written; the bounds
are checked while the text is composed, so time and memory stay small.
"""

import time
import tracemalloc

import pytest

import hostile as H


def _bomb(levels=9):
    text, prev = "image_mean: &a [" + ", ".join(["1"] * 9) + "]\n", "a"
    for i in range(levels):
        name = "l%d" % i
        text += "x%d: &%s [%s]\n" % (i, name, ", ".join(["*" + prev] * 9))
        prev = name
    return text.encode("utf-8")


CASES = {
    # name: (file bytes, words the line must hold)
    "latin-1": (b"batch_size: 8\nrun_name: caf\xe9\n", "is not UTF-8 text (byte 0xe9 at line 2)"),
    "duplicate-key": (
        b"batch_size: 8\nseed: 1\nbatch_size: 16\n",
        "key 'batch_size' is given twice (lines 1 and 3); keep one",
    ),
    "duplicate-nested": (
        b"npu_servers:\n  - {server_id: a, server_id: b}\n",
        "key 'server_id' is given twice (lines 2 and 2)",
    ),
    "deep": (b"image_mean: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested more than 32 levels"),
    "alias-bomb": (_bomb(), "more than 20000 values once its aliases (*name) are expanded"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_config_file_is_refused_in_one_line(case, tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data, words = CASES[case]
    victim = tmp_path / "config.yaml"
    victim.write_bytes(data)
    before = H.tree(tmp_path)
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        code, text = H.main(
            ["resolve-config", "--config", victim, "--out", tmp_path / "out" / "resolved.yaml"],
            caplog,
        )
        seconds, peak = time.monotonic() - t0, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2, text
    line = H.error_line(text)
    assert "config file %s" % victim in line and words in line, line
    assert H.tree(tmp_path) == before  # the file unchanged (sha256), nothing written
    assert seconds < 10 and peak < 50e6, (seconds, peak)  # bounded, on a loaded 2-core machine


@pytest.mark.parametrize(
    "value,words",
    [
        ("{seed: 1, seed: 2}", "key 'seed' is given twice"),
        ("[" * 100 + "]" * 100, "nested more than 32 levels"),
    ],
    ids=["duplicate-key", "deep"],
)
def test_a_hostile_set_value_is_refused_naming_it(value, words, tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = H.tree(tmp_path)
    from support.paths import DEMO_CONFIG

    line, text = H.refused(
        [
            "resolve-config",
            "--config",
            DEMO_CONFIG,
            "--set",
            "image_mean=" + value,
            "--out",
            tmp_path / "resolved.yaml",
        ],
        caplog,
    )
    assert "override 'image_mean=" in line and words in line, line
    assert H.tree(tmp_path) == before


def test_anchors_merge_keys_and_numbers_still_load(tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "config.yaml"
    path.write_text("image_mean: &m [120.0, 115.0, 100.0]\nimage_std: *m\nweight_decay: 1e-4\n")
    from support.paths import DEMO_CONFIG

    code, text = H.main(
        ["resolve-config", "--config", DEMO_CONFIG, "--config", path, "--out", tmp_path / "r.yaml"],
        caplog,
    )
    from resnext.config import load_resolved

    assert code == 0, text
    cfg = load_resolved(str(tmp_path / "r.yaml"))
    assert list(cfg.image_std) == [120.0, 115.0, 100.0] and cfg.weight_decay == 1e-4
