"""The RGB-JPEG check decodes at 1/8 scale: it must refuse and warn exactly where
the full decode does.

libjpeg-turbo Huffman-decodes the whole entropy-coded stream at any scale, so a bad file should fail
the same way; these tests check that on many broken variants of differently encoded JPEGs, and that
conversion writes the same shards and manifest either way.
"""

import os

import numpy as np
import pytest

import imagemaker
from resnext.data import convert, images

pytestmark = pytest.mark.skipif(images.simplejpeg is None, reason="simplejpeg is not installed")

# Pillow options: baseline 4:2:0, optimised tables, progressive, 4:4:4, 4:2:2, restart markers
ENCODINGS = {
    "baseline": dict(quality=90),
    "optimized": dict(quality=75, optimize=True),
    "progressive": dict(quality=90, progressive=True),
    "444": dict(quality=95, subsampling=0),
    "422": dict(quality=85, subsampling=1),
    "restarts": dict(quality=90, restart_marker_blocks=4),
}


def outcome(checker, data):
    """What conversion would do with data: the Checked fields
    (data by equality) or the skip reason."""
    try:
        checked = checker.check(data)
    except images.BadImage as exc:
        return "skipped: %s" % exc
    return (checked.data == data, checked.height, checked.width, checked.reencoded, checked.warning)


def broken_variants(good, rng, count):
    """good cut at many offsets, with flipped/replaced bytes in the entropy data and header,
    cut or padded."""
    sos = good.find(b"\xff\xda")
    start = sos + 14  # past the scan header of a 3-component frame
    cuts = list(range(0, sos + 20)) + list(np.linspace(sos, len(good), count, dtype=int))
    variants = [good[:n] for n in cuts]
    for _ in range(count):
        at = int(rng.integers(start, len(good) - 2))
        flipped, replaced = bytearray(good), bytearray(good)
        flipped[at] ^= 1 << int(rng.integers(0, 8))
        replaced[at] = int(rng.integers(0, 256))
        header = bytearray(good)
        header[int(rng.integers(2, start))] = int(rng.integers(0, 256))
        size = int(rng.integers(1, 64))
        variants += [
            bytes(flipped),
            bytes(replaced),
            bytes(header),
            good[:at] + good[at + size :],
            good[:at] + rng.bytes(size) + good[at:],
        ]
    return variants


def test_the_check_decodes_at_one_eighth_scale(monkeypatch):
    shapes, real = [], images.simplejpeg.decode_jpeg
    monkeypatch.setattr(
        images.simplejpeg, "decode_jpeg", lambda *a, **k: shapes.append(real(*a, **k).shape)
    )
    data = imagemaker.encode(imagemaker.photo(375, 500, seed=1), quality=90)
    assert images.Checker().check(data).data is data
    assert images.Checker(scaled=False).check(data).data is data
    assert shapes == [(47, 63, 3), (375, 500, 3)]


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_scaled_check_refuses_and_warns_exactly_as_the_full_decode(encoding):
    good = imagemaker.encode(imagemaker.photo(75, 100, seed=3, noise=20), **ENCODINGS[encoding])
    if encoding == "restarts":
        assert b"\xff\xdd" in good  # Pillow wrote a restart interval
    variants = broken_variants(good, np.random.default_rng(len(encoding)), 120)
    scaled, full = images.Checker(), images.Checker(scaled=False)
    clean, broken = outcome(full, good), 0
    assert clean == (True, 75, 100, None, None)
    for n, data in enumerate(variants):
        want = outcome(full, data)
        assert outcome(scaled, data) == want, "variant %d of %s" % (n, encoding)
        broken += want != clean
    assert broken > len(variants) // 2  # the variants do break the file, most of them


def test_scaled_check_on_the_bad_files_of_real_trees():
    scaled, full = images.Checker(), images.Checker(scaled=False)
    extra = {
        "zero": (b"", "skipped"),
        "garbage": (b"garbage" * 50, "skipped"),
        "soi+noise": (b"\xff\xd8" + bytes(range(256)) * 20, "skipped"),
    }
    for seed in range(3):
        for name, (data, _) in list(imagemaker.bad_files(seed).items()) + list(extra.items()):
            assert outcome(scaled, data) == outcome(full, data), (seed, name)


def shards_and_manifest(cfg):
    manifest = convert.convert(cfg)
    shards = {}
    for name in sorted(os.listdir(cfg.data_dir)):
        with open(os.path.join(cfg.data_dir, name), "rb") as f:
            shards[name] = f.read()
    return manifest, shards


def test_scaled_check_writes_the_same_shards_and_manifest(
    tmp_path, messy_tree, cfg_factory, monkeypatch
):
    root, _ = messy_tree
    scaled = shards_and_manifest(cfg_factory(tmp_path / "scaled", root))
    monkeypatch.setattr(images, "SCALED_CHECK", False)
    full = shards_and_manifest(cfg_factory(tmp_path / "full", root))
    assert scaled == full and len(scaled[1]) > 4
