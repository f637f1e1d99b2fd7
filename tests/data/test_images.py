import os

import numpy as np
import pytest

import imagemaker
from resnext.data import images


@pytest.fixture(params=["simplejpeg", "pillow"])
def checker(request):
    if request.param == "simplejpeg" and images.simplejpeg is None:
        pytest.skip("simplejpeg is not installed")
    return images.Checker(use_simplejpeg=request.param == "simplejpeg")


def test_clean_colour_jpeg_keeps_its_bytes(checker):
    data = imagemaker.encode(imagemaker.photo(37, 53, seed=0), quality=90)
    checked = checker.check(data)
    assert checked.data is data and (checked.height, checked.width) == (37, 53)
    assert checked.reencoded is None and checked.warning is None


@pytest.mark.parametrize("name", ["cmyk.JPEG", "png_named.JPEG", "gray.JPEG"])
def test_cmyk_png_and_grey_become_rgb_jpeg_of_the_same_pixels(checker, name):
    data, outcome = imagemaker.bad_files(seed=4)[name]
    checked = checker.check(data)
    assert checked.reencoded == outcome.split(":")[1] and (checked.height, checked.width) == (
        30,
        40,
    )
    assert checked.data[:2] == b"\xff\xd8"
    from PIL import Image
    import io

    with Image.open(io.BytesIO(checked.data)) as img:
        assert (img.format, img.mode) == ("JPEG", "RGB")
    diff = imagemaker.decode(checked.data).astype(int) - imagemaker.decode(data).astype(int)
    assert np.abs(diff).max() <= 6


@pytest.mark.parametrize(
    "name,reason",
    [
        ("empty.JPEG", "empty file"),
        ("truncated.JPEG", "cannot decode: OSError: image file is truncated"),
        ("notes.txt", "cannot decode: not an image format Pillow can read"),
    ],
)
def test_unusable_data_is_refused_with_a_stable_reason(checker, name, reason):
    data, _ = imagemaker.bad_files(seed=5)[name]
    with pytest.raises(images.BadImage) as caught:
        checker.check(data)
    assert str(caught.value).startswith(reason) and " at 0x" not in str(caught.value)


def test_libjpeg_warnings_keep_the_bytes_and_are_reported():
    if images.simplejpeg is None:
        pytest.skip("simplejpeg is not installed")
    data, _ = imagemaker.bad_files(seed=6)["extraneous.JPEG"]
    checked = images.Checker().check(data)
    assert checked.data is data and checked.reencoded is None
    assert "extraneous bytes" in checked.warning


def test_read_file_refuses_what_is_not_a_regular_file(tmp_path):
    fifo = str(tmp_path / "pipe.JPEG")
    os.mkfifo(fifo)  # reading it would block forever
    with pytest.raises(images.BadImage, match="not a regular file"):
        images.read_file(fifo)
    os.symlink(str(tmp_path / "gone.JPEG"), str(tmp_path / "dangling.JPEG"))
    with pytest.raises(images.BadImage, match="cannot read: No such file"):
        images.read_file(str(tmp_path / "dangling.JPEG"))


def test_reencode_kinds_and_decoder_name():
    assert (
        images.reencode_kind("PNG", "RGBA") == "png"
        and images.reencode_kind("JPEG", "CMYK") == "cmyk"
    )
    assert (
        images.reencode_kind("JPEG", "L") == "grayscale"
        and images.reencode_kind("JPEG", "P") == "mode-P"
    )
    assert "Pillow" in images.decoder_name()
