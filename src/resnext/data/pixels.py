"""The one image-size limit, `max_image_pixels`, and how a refusal reads.

Every path an image takes checks its height x width against the limit before it is decoded in
full: the converter (resnext.data.images.Checker: an image over it is skipped with this reason),
`resnext index` (resnext.data.recordcheck: the record is refused) and the tf.data decode of
evaluation and training (resnext.data.preprocessing.limit_pixels: the stage stops naming the
record). A decode at full size costs height x width x 3 bytes, 12 bytes a pixel as float32:
a 16000 x 16000 image ~3 GB. Python 3.7, no TensorFlow.
"""

KEY = "max_image_pixels"


class ImageTooLarge(ValueError):
    """An image over max_image_pixels met at evaluation or training; str() names the record."""


def over(height, width, limit):
    """True when a height x width image is over `limit` pixels (None: no limit)."""
    return limit is not None and int(height) * int(width) > int(limit)


def reason(height, width, limit):
    """Why an image is refused: its size, the key and what to do."""
    return (
        "%d x %d = %d pixels, over %s (%d); shrink the image, or raise %s if the machine "
        "has the memory to decode it (~12 bytes a pixel)"
        % (int(width), int(height), int(width) * int(height), KEY, int(limit), KEY)
    )


def record_refused(name, shard, height, width, limit):
    """ImageTooLarge naming the record (its file name, '' when it has none) and its shard."""
    what = "image %s" % name if name else "an image without a file name"
    return ImageTooLarge("%s in %s is %s" % (what, shard, reason(height, width, limit)))
