"""Test images: ImageNet-like photos (smooth colour field + noise) and the bad files
real trees hold."""

import io
import os

import numpy as np
from PIL import Image


def photo(height, width, seed, noise=12.0):
    """RGB uint8 [height, width, 3]: a smooth random colour field plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    low = Image.fromarray(rng.uniform(0, 255, (6, 8, 3)).astype(np.uint8)).resize(
        (width, height), Image.BICUBIC
    )
    pixels = np.asarray(low).astype(np.float32) + rng.normal(0.0, noise, (height, width, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def encode(pixels_or_image, fmt="JPEG", **options):
    image = (
        pixels_or_image
        if isinstance(pixels_or_image, Image.Image)
        else Image.fromarray(pixels_or_image)
    )
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def bad_files(seed=0):
    """{file name: (bytes, expected outcome)}: outcome 'kept', 'warning',
    'reencoded:<kind>' or 'skipped'."""
    rgb = photo(30, 40, seed)
    good = encode(rgb, quality=90)
    return {
        "cmyk.JPEG": (encode(Image.fromarray(rgb).convert("CMYK"), quality=95), "reencoded:cmyk"),
        "png_named.JPEG": (encode(rgb, fmt="PNG"), "reencoded:png"),
        "gray.JPEG": (encode(rgb[..., 1], quality=95), "reencoded:grayscale"),
        "truncated.JPEG": (good[: len(good) // 2], "skipped"),
        "empty.JPEG": (b"", "skipped"),
        "notes.txt": (b"not an image at all\n", "skipped"),
        "extraneous.JPEG": (good[:-2] + b"\x00" * 7 + good[-2:], "warning"),
    }


def decode(data):
    """RGB uint8 array of encoded image bytes, as Pillow sees them."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))
