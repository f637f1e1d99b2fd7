"""ImageNet-like JPEG trees for the data benchmarks
(imported by data_convert.py and data_pipeline.py).

Each image is a smooth random colour field (bicubic upscale of a 6x8 random grid) plus Gaussian
noise (sigma 20), 500x375 (every fourth one 375x500), saved by Pillow at quality 90: ~100 KB, close
to ILSVRC-2012's mean file size (~110 KB) and typical size. Not a test helper.
"""

import contextlib
import io
import os
import shutil
import tempfile
import time

import numpy as np
from PIL import Image

WIDTH, HEIGHT, QUALITY, NOISE = 500, 375, 90, 20.0


@contextlib.contextmanager
def work_dir(keep, prefix):
    """The benchmark's folder: `keep` (left in place) or a temp dir removed afterwards."""
    root = keep or tempfile.mkdtemp(prefix=prefix)
    try:
        yield root
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def photo_jpeg(rng, portrait=False):
    width, height = (HEIGHT, WIDTH) if portrait else (WIDTH, HEIGHT)
    field = Image.fromarray(rng.uniform(0, 255, (6, 8, 3)).astype(np.uint8)).resize(
        (width, height), Image.BICUBIC
    )
    pixels = np.asarray(field).astype(np.float32) + rng.normal(0.0, NOISE, (height, width, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
        buf, format="JPEG", quality=QUALITY
    )
    return buf.getvalue()


def write_tree(root, num_images, classes=10, val_every=10, seed=0):
    """train/<synset>/*.JPEG and val/<synset>/*.JPEG under root;
    returns (paths, seconds, mean bytes)."""
    rng = np.random.default_rng(seed)
    start, paths, total = time.perf_counter(), [], 0
    for i in range(num_images):
        split = "val" if (i // classes) % val_every == val_every - 1 else "train"
        folder = os.path.join(root, split, "n%08d" % (i % classes))
        os.makedirs(folder, exist_ok=True)
        data = photo_jpeg(rng, portrait=i % 4 == 3)
        path = os.path.join(folder, "img_%06d.JPEG" % i)
        with open(path, "wb") as f:
            f.write(data)
        paths.append(path)
        total += len(data)
    return paths, time.perf_counter() - start, total / float(num_images)
