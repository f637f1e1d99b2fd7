import io

import numpy as np
import pytest
from PIL import Image

from resnext.compat import tf
from resnext.data import preprocessing


def _jpeg(array, quality=100):
    buf = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _run(fn, *values):
    """Build fn(*placeholders-as-constants) in a fresh graph and evaluate it."""
    with tf.Graph().as_default():
        out = fn(*[tf.constant(v) for v in values])
        with tf.Session() as sess:
            return sess.run(out)


def _framed(size=50, border=3):
    """Blue square inside a red border `border` pixels wide: RGB uint8 [size, size, 3]."""
    img = np.zeros((size, size, 3), np.uint8)
    img[..., 0] = 255
    img[border : size - border, border : size - border] = (0, 0, 255)
    return img


def test_seed_eval_crop_drops_the_outer_tenth():
    out = _run(lambda b: preprocessing.eval_image(b, 16, "seed"), _jpeg(_framed()))
    assert out.shape == (16, 16, 3) and out.dtype == np.float32
    assert out[..., 0].max() < 40 and out[..., 2].min() > 215  # no red border left


def test_resize_center_keeps_aspect_and_centres_a_wide_image():
    img = np.zeros((32, 64, 3), np.uint8)
    img[:, 32:] = 255  # left half black, right half white
    out = _run(lambda b: preprocessing.eval_image(b, 16, "resize_center"), _jpeg(img))
    assert out.shape == (16, 16, 3)
    # resized to 18x36, centre crop columns 10..25: the black/white edge sits in the middle
    assert out[:, :6].max() < 30 and out[:, 10:].min() > 225


def test_unknown_eval_transform_is_rejected():
    with pytest.raises(ValueError, match="eval_transform"):
        _run(lambda b: preprocessing.eval_image(b, 16, "centre"), _jpeg(_framed()))


def test_grey_jpeg_decodes_to_three_channels_everywhere():
    grey = _jpeg(np.full((20, 24), 128))
    assert Image.open(io.BytesIO(grey)).mode == "L"
    for fn in (
        lambda b: preprocessing.decode_and_random_crop(b, 16, (0.5, 1.0), (0.75, 1.33), seed=1),
        lambda b: preprocessing.eval_image(b, 16, "seed"),
        lambda b: preprocessing.eval_image(b, 16, "resize_center"),
    ):
        out = _run(fn, grey)
        assert out.shape == (16, 16, 3) and np.allclose(out, 128, atol=3)


def test_random_crop_varies_keeps_range_and_full_area_is_whole_image():
    img = np.tile(np.linspace(0, 255, 40, dtype=np.uint8)[None, :, None], (40, 1, 3))
    data = _jpeg(img)

    def crops(b):
        return tf.stack(
            [
                preprocessing.decode_and_random_crop(b, 16, (0.1, 0.3), (0.75, 1.33), seed=s)
                for s in range(4)
            ]
        )

    out = _run(crops, data)
    assert out.shape == (4, 16, 16, 3) and out.min() >= 0 and out.max() <= 255
    assert len({o.tobytes() for o in out}) > 1  # different boxes
    assert all(
        o[:, -1].mean() - o[:, 0].mean() < 255 * 0.75 for o in out
    )  # a crop, not the whole ramp
    whole = _run(
        lambda b: preprocessing.decode_and_random_crop(b, 16, (1.0, 1.0), (0.75, 1.33)), data
    )
    assert whole[:, 0].mean() < 20 and whole[:, -1].mean() > 235


def test_flip_and_normalize():
    img = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    flips = _run(lambda x: tf.stack([preprocessing.random_flip(x, seed=s) for s in range(8)]), img)
    kinds = {o.tobytes() for o in flips}
    assert kinds == {img.tobytes(), img[:, ::-1].tobytes()}
    out = _run(lambda x: preprocessing.normalize(x, (1.0, 2.0, 3.0), (2.0, 4.0, 8.0)), img)
    assert out.dtype == np.float32
    assert np.allclose(out, (img - np.array([1.0, 2.0, 3.0])) / np.array([2.0, 4.0, 8.0]))


def _windows(boxes, seeds=40, size=32):
    """The crop windows [(y, x, h, w)] of seeds 1, 3, ... on a size^2 image with `boxes`."""

    def build():
        shape = tf.constant([size, size, 3])
        objects = None if boxes is None else tf.constant(boxes, tf.float32, shape=[len(boxes), 4])
        return [
            preprocessing.crop_window(shape, (0.08, 1.0), (0.75, 4 / 3.0), 2 * s + 1, objects)
            for s in range(seeds)
        ]

    return [tuple(int(v) for v in w) for w in _run(build)]


def _covered(window, box, size=32):
    """Share of `box` (ymin, xmin, ymax, xmax in 0..1) inside the pixel window (y, x, h, w)."""
    y, x, h, w = window
    y0, x0, y1, x1 = [v * size for v in box]
    inter = max(0, min(y + h, y1) - max(y, y0)) * max(0, min(x + w, x1) - max(x, x0))
    return inter / ((y1 - y0) * (x1 - x0))


def test_the_crop_covers_a_tenth_of_a_box_and_without_boxes_need_not():
    """sample_distorted_bounding_box's min_object_covered 0.1 holds for the record's box (a corner
    eighth of the side); the seed's crop (no boxes) misses that corner on some seeds."""
    corner = (0.0, 0.0, 0.25, 0.25)
    with_box = _windows([corner])
    assert all(_covered(w, corner) >= 0.1 for w in with_box)
    assert min(_covered(w, corner) for w in _windows(None)) < 0.1
    assert _windows([]) == _windows(None)  # a record without boxes: the seed's crop, same windows
    # as stored by others: corners swapped, outside 0..1 -> cleaned to the same box
    assert _windows([(0.25, 0.25, 0.0, 0.0)]) == with_box
    assert _windows([(-1.0, -0.5, 0.25, 0.25)]) == with_box
