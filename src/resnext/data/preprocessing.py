"""Per-image graph ops: training crop and flip, the two evaluation transforms, normalisation.

Every function takes and returns tensors for ONE image; images are float32 [H, W, 3] on the
0..255 scale until `normalize`. JPEGs are always decoded with 3 channels (grey -> RGB).
Runs in the Ascend container: Python 3.7 syntax, TF 1.15 API through `resnext.compat.tf`.
"""

from resnext.compat import tf

EVAL_TRANSFORMS = ("seed", "resize_center")
SEED_EVAL_BOX = (0.1, 0.1, 0.9, 0.9)  # the seed's eval crop: central 80% of each side
RESIZE_CENTER_FRACTION = 0.875  # resize_center: short side = image_size / 0.875, then centre crop
# first value of limit_pixels' assertion: resnext.data.pipeline finds its error by it
TOO_LARGE = "image over max_image_pixels"


def limit_pixels(jpeg_bytes, limit, name):
    """`jpeg_bytes` (string []) passed on only once its JPEG header shows at most `limit` pixels;
    else the decode never starts and the assertion fails with [TOO_LARGE, name, height, width].

    Reads the header only (extract_jpeg_shape). Bytes that are not a JPEG pass unchecked: the
    converter writes JPEGs only, and `resnext index` checked every adopted record's size.
    """
    is_jpeg = tf.equal(tf.strings.substr(jpeg_bytes, 0, 2), b"\xff\xd8")
    shape = tf.cond(
        is_jpeg,
        lambda: tf.image.extract_jpeg_shape(jpeg_bytes, output_type=tf.int64),
        lambda: tf.zeros([3], tf.int64),
    )
    small = tf.less_equal(shape[0] * shape[1], tf.constant(int(limit), tf.int64))
    check = tf.debugging.Assert(small, [TOO_LARGE, name, shape[0], shape[1]])
    with tf.control_dependencies([check]):
        return tf.identity(jpeg_bytes)


def _resize(image, height, width):
    """Bilinear resize of [h, w, 3] to float32 [height, width, 3]
    (TF1 resize semantics on both TFs)."""
    resized = tf.image.resize_images(image, [height, width], method=tf.image.ResizeMethod.BILINEAR)
    return tf.cast(resized, tf.float32)


def clean_boxes(boxes):
    """float32 [N, 4] (ymin, xmin, ymax, xmax) as a record holds them -> clipped to 0..1, corners in
    order (what `resnext convert` writes; adopted shards are not checked for it), [N, 4]."""
    boxes = tf.clip_by_value(tf.reshape(tf.cast(boxes, tf.float32), [-1, 4]), 0.0, 1.0)
    y0, x0, y1, x1 = tf.unstack(boxes, num=4, axis=1)
    return tf.stack(
        [tf.minimum(y0, y1), tf.minimum(x0, x1), tf.maximum(y0, y1), tf.maximum(x0, x1)], axis=1
    )


def crop_window(shape, area_range, aspect_range, seed=None, boxes=None):
    """The random crop of an image of `shape` (int32 [3]): int32 [4] offset_y, offset_x, height,
    width, as decode_and_crop_jpeg takes it (see decode_and_random_crop)."""
    objects = (
        tf.zeros([1, 0, 4], dtype=tf.float32)
        if boxes is None
        else tf.expand_dims(clean_boxes(boxes), 0)
    )
    begin, size, _ = tf.image.sample_distorted_bounding_box(
        shape,
        objects,
        seed=seed,
        min_object_covered=0.1,
        aspect_ratio_range=list(aspect_range),
        area_range=list(area_range),
        max_attempts=100,
        use_image_if_no_bounding_boxes=True,
    )
    offset_y, offset_x, _ = tf.unstack(begin)
    crop_h, crop_w, _ = tf.unstack(size)
    return tf.stack([offset_y, offset_x, crop_h, crop_w])


def decode_and_random_crop(
    jpeg_bytes,
    image_size,
    area_range=(0.08, 1.0),
    aspect_range=(0.75, 4.0 / 3.0),
    seed=None,
    boxes=None,
):
    """Random-size crop as in the seed (Inception style), decoding only the cropped window.

    jpeg_bytes: scalar string tensor. A box covering area_range of the image with an aspect ratio in
    aspect_range is drawn by tf.image.sample_distorted_bounding_box (min_object_covered 0.1, 100
    attempts; falls back to the whole image), decoded with decode_and_crop_jpeg and resized
    bilinearly. The objects it must cover are `boxes` (float32 [N, 4], ymin/xmin/ymax/xmax in 0..1,
    through clean_boxes), or the whole image when boxes is None (the seed) or N is 0.
    Returns float32 [image_size, image_size, 3], 0..255.
    """
    window = crop_window(
        tf.image.extract_jpeg_shape(jpeg_bytes), area_range, aspect_range, seed, boxes
    )
    image = tf.image.decode_and_crop_jpeg(jpeg_bytes, window, channels=3)
    image = _resize(image, image_size, image_size)
    image.set_shape([image_size, image_size, 3])
    return image


def random_flip(image, seed=None):
    """Horizontal flip with probability 1/2; [H, W, 3] -> same shape and dtype."""
    return tf.image.random_flip_left_right(image, seed=seed)


def decode_jpeg(jpeg_bytes):
    """Scalar string tensor -> float32 [H, W, 3] (0..255), whatever the JPEG's own channel count."""
    return tf.cast(tf.image.decode_jpeg(jpeg_bytes, channels=3), tf.float32)


def eval_seed_crop(jpeg_bytes, image_size):
    """The seed's eval transform: box [0.1, 0.1, 0.9, 0.9] of the image resized to image_size^2.

    Aspect ratio is not preserved (as in the seed). Returns float32 [image_size, image_size, 3].
    """
    image = decode_jpeg(jpeg_bytes)
    boxes = tf.constant([list(SEED_EVAL_BOX)], dtype=tf.float32)
    crops = tf.image.crop_and_resize(
        tf.expand_dims(image, 0),
        boxes,
        box_indices=tf.zeros([1], tf.int32),
        crop_size=tf.constant([image_size, image_size], tf.int32),
    )
    image = tf.reshape(crops, [image_size, image_size, 3])
    return image


def eval_resize_center(jpeg_bytes, image_size):
    """Resize the short side to round(image_size / 0.875) keeping the aspect ratio, centre-crop.

    Returns float32 [image_size, image_size, 3] on the 0..255 scale.
    """
    image = decode_jpeg(jpeg_bytes)
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    short = int(round(image_size / RESIZE_CENTER_FRACTION))
    scale = short / tf.minimum(height, width)
    new_h = tf.maximum(tf.cast(tf.round(height * scale), tf.int32), image_size)
    new_w = tf.maximum(tf.cast(tf.round(width * scale), tf.int32), image_size)
    image = _resize(image, new_h, new_w)
    top = (new_h - image_size) // 2
    left = (new_w - image_size) // 2
    image = tf.slice(image, tf.stack([top, left, 0]), [image_size, image_size, 3])
    image.set_shape([image_size, image_size, 3])
    return image


def eval_image(jpeg_bytes, image_size, transform="seed"):
    """Dispatch on cfg.eval_transform ('seed' or 'resize_center');
    float32 [image_size, image_size, 3]."""
    if transform == "seed":
        return eval_seed_crop(jpeg_bytes, image_size)
    if transform == "resize_center":
        return eval_resize_center(jpeg_bytes, image_size)
    raise ValueError(
        "eval_transform must be one of %s, not %r" % (", ".join(EVAL_TRANSFORMS), transform)
    )


def normalize(image, mean, std):
    """(image - mean) / std per channel; image [..., 3] at the 0..255 scale -> float32,
    same shape."""
    image = tf.cast(image, tf.float32)
    mean = tf.constant(list(mean), dtype=tf.float32)
    std = tf.constant(list(std), dtype=tf.float32)
    return (image - mean) / std


def train_image(jpeg_bytes, cfg, seed=None, boxes=None):
    """The full training transform from the config: crop, optional flip, normalise.

    `seed` (int or None) derives distinct op seeds for the crop and the flip. `boxes`: the record's
    float32 [N, 4] objects for the crop (decode_and_random_crop), read only with
    cfg.crop_with_boxes.
    Returns float32 [cfg.image_size, cfg.image_size, 3], normalised with cfg.image_mean/image_std.
    """
    # distinct and never 0: sample_distorted_bounding_box takes seed 0 (with a 0 graph seed) for
    # "unseeded", which TF op determinism refuses
    crop_seed, flip_seed = (None, None) if seed is None else (2 * seed + 1, 2 * seed + 2)
    image = decode_and_random_crop(
        jpeg_bytes,
        cfg.image_size,
        (cfg.crop_area_min, 1.0),
        (cfg.crop_aspect_min, cfg.crop_aspect_max),
        seed=crop_seed,
        boxes=boxes if cfg.crop_with_boxes else None,
    )
    if cfg.random_flip:
        image = random_flip(image, seed=flip_seed)
    return normalize(image, cfg.image_mean, cfg.image_std)


def eval_image_from_config(jpeg_bytes, cfg):
    """cfg.eval_transform then normalise: float32 [cfg.image_size, cfg.image_size, 3]."""
    image = eval_image(jpeg_bytes, cfg.image_size, cfg.eval_transform)
    return normalize(image, cfg.image_mean, cfg.image_std)
