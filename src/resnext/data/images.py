"""Check one source image by decoding it once; keep its bytes or re-encode it as an RGB JPEG.

`check_bytes(data)` decodes every image once (the check costs at most one decode):
- a colour (YCbCr or RGB) JPEG that decodes cleanly is kept byte for byte (no second encode); its
  check is a strict decode at 1/8 scale (see SCALED_CHECK);
- a JPEG that decodes only with libjpeg warnings (e.g. extraneous bytes before a marker) is kept
  too, and the warning is reported (TensorFlow's decoder accepts these, as TF-slim relied on);
- grayscale, CMYK/YCCK JPEGs and every non-JPEG format (PNG, GIF, ...) are converted to RGB and
  re-encoded as JPEG (quality REENCODE_QUALITY, 4:4:4), the kind being reported;
- empty, truncated or undecodable data raises BadImage with the reason, and so does an image over
  max_image_pixels (read from its header, before any decode; resnext.data.pixels).
The fast path decodes with simplejpeg (libjpeg-turbo, straight into a reused buffer); Pillow
handles everything else (at full size), and everything when simplejpeg is not installed. Host only.
"""

import collections
import io
import os
import re
import stat

from resnext.data import pixels

try:  # host requirement (pinned); Pillow does the same job more slowly without it
    import simplejpeg
except ImportError:  # pragma: no cover - depends on the environment
    simplejpeg = None

REENCODE_QUALITY = 100  # TF-slim's converter re-encodes PNG/CMYK at quality 100 too
KEEP_COLORSPACES = ("YCbCr", "RGB")  # JPEG colour spaces TensorFlow decodes to RGB as they are
KEEP_MODES = ("RGB",)  # the same, as Pillow names the decoded mode
JPEG_FORMATS = ("JPEG", "MPO")  # MPO: camera multi-picture JPEG; decoders read its first frame
# The kept JPEG's pixels are never used, only proof that the file decodes. libjpeg-turbo decodes
# every Huffman code of the entropy-coded data at any DCT scale (at 1/8 it drops the AC values
# after decoding them), so truncation and corrupt data fail exactly as in a full decode (same
# libjpeg message; tests/data/test_scaled_check.py), while IDCT, upsampling and colour conversion
# shrink: ~0.7x of the full decode's CPU time on ImageNet-like files (docs/data.md).
SCALED_CHECK = True
_ADDRESS = re.compile(
    r"<[^<>]* at 0x[0-9a-fA-F]+>"
)  # object reprs would make reasons differ per run

Checked = collections.namedtuple("Checked", "data height width reencoded warning")
Checked.__doc__ = (
    """Outcome of a check: JPEG bytes to store, size, re-encode kind or None, warning or None."""
)


class BadImage(ValueError):
    """A file that cannot be used; str() is the reason recorded in the manifest."""


def image_size(data):
    """(height, width) from the header of an encoded image (JPEG by simplejpeg, other formats by
    Pillow), nothing decoded; None when neither can read the header."""
    if simplejpeg is not None and data[:2] == b"\xff\xd8":
        try:
            return tuple(simplejpeg.decode_jpeg_header(data)[:2])
        except ValueError:
            pass
    try:
        with _header(data, lift=True) as img:
            return img.size[1], img.size[0]
    except Exception:  # not an image Pillow reads: the size is unknown, not over the limit
        return None


def decoder_name():
    """The decoder used for clean colour JPEGs, with its version (recorded in the manifest)."""
    import PIL

    pillow = "Pillow %s" % PIL.__version__
    if simplejpeg is None:
        return pillow
    return "simplejpeg %s (other files: %s)" % (simplejpeg.__version__, pillow)


def read_file(path):
    """Bytes of a regular file; BadImage for anything else
    (opened non-blocking: a pipe never blocks)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise BadImage("cannot read: %s" % (exc.strerror or exc))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadImage("not a regular file")
        return _read_all(fd, info.st_size)
    except OSError as exc:
        raise BadImage("cannot read: %s" % (exc.strerror or exc))
    finally:
        os.close(fd)


def _read_all(fd, size):
    """Everything in the open file, which fstat said holds `size` bytes.

    One read() for the usual file: asking for a byte more than fstat announced, a shorter answer
    that adds up to `size` is the end of the file (no second read to be told so). Anything else (the
    file grew or shrank meanwhile, a short read) is read on to an empty read.
    """
    parts, total = [], 0
    while True:
        want = max(size + 1 - total, 1 << 16)
        part = os.read(fd, want)
        if not part:
            break
        parts.append(part)
        total += len(part)
        if total == size and len(part) < want:
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


class Checker:
    """check_bytes with a decode buffer reused across images (one Checker per worker)."""

    def __init__(self, use_simplejpeg=True, scaled=None, max_pixels=None):
        self._fast = simplejpeg if use_simplejpeg else None
        self._max_pixels = max_pixels  # None: no limit
        self._buffer = bytearray()
        scaled = SCALED_CHECK if scaled is None else scaled
        self._scale = 8 if scaled else 1  # libjpeg's smallest DCT scale is 1/8

    def check(self, data):
        if not data:
            raise BadImage("empty file")
        warning = None
        if self._fast is not None and data[:2] == b"\xff\xd8":
            try:
                height, width, colorspace, _ = self._fast.decode_jpeg_header(data)
            except ValueError:
                colorspace = None  # let Pillow decide and word the reason
            if colorspace is not None and pixels.over(height, width, self._max_pixels):
                raise BadImage(pixels.reason(height, width, self._max_pixels))
            if colorspace in KEEP_COLORSPACES:
                warning = self._decode(data, height, width)
                if warning is None:
                    return Checked(data, height, width, None, None)
        return check_with_pillow(data, warning, self._max_pixels)

    def _decode(self, data, height, width):
        """Strict decode (at 1/scale) into the reused buffer;
        the libjpeg message if it complains, else None."""
        scale = self._scale
        # libjpeg rounds scaled sizes up; min 1 x 1 makes simplejpeg pick its smallest scale, 1/8
        needed = -(-height // scale) * -(-width // scale) * 3
        if len(self._buffer) < needed:
            self._buffer = bytearray(needed)
        least = 1 if scale > 1 else 0
        try:
            self._fast.decode_jpeg(
                data,
                colorspace="RGB",
                buffer=self._buffer,
                strict=True,
                min_height=least,
                min_width=least,
            )
        except ValueError as exc:
            return str(exc) or "libjpeg warning"
        return None


def check_bytes(data):
    """Check one image's bytes (see the module doc); returns Checked, raises BadImage."""
    return Checker().check(data)


def reencode_kind(fmt, mode):
    """Why an image is re-encoded: 'png' (any non-JPEG format, lower-cased), 'cmyk', 'grayscale',
    'mode-X'."""
    if fmt not in JPEG_FORMATS:
        return (fmt or "unknown").lower()
    if mode == "CMYK":
        return "cmyk"
    if mode in ("L", "LA", "1", "I", "I;16"):
        return "grayscale"
    return "mode-%s" % mode


def _reason(exc, warning):
    """A skip reason that is the same in every run (no object addresses)."""
    if type(exc).__name__ == "UnidentifiedImageError":
        text = "not an image format Pillow can read"
    else:
        text = "%s: %s" % (type(exc).__name__, _ADDRESS.sub("<data>", str(exc)))
    extra = "; libjpeg: %s" % warning if warning else ""
    return "cannot decode: %s%s" % (text, extra)


def _header(data, lift):
    """Pillow's image of `data`, its header read, nothing decoded.

    With `lift`, Pillow's own limit (DecompressionBombError at twice Image.MAX_IMAGE_PIXELS, raised
    while opening, without the size) is lifted for the open: ours names the size and the key.
    """
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    if lift:
        Image.MAX_IMAGE_PIXELS = None
    try:
        return Image.open(io.BytesIO(data))
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _open(data, max_pixels):
    """_header, then BadImage when the image is over max_pixels (None: Pillow's limit only)."""
    img = _header(data, lift=max_pixels is not None)
    width, height = img.size
    if pixels.over(height, width, max_pixels):
        img.close()
        raise BadImage(pixels.reason(height, width, max_pixels))
    return img


def check_with_pillow(data, warning=None, max_pixels=None):
    """Full decode with Pillow: keep an RGB JPEG's bytes, re-encode anything else; BadImage if
    unusable or over max_pixels (checked on the header, before the decode)."""
    try:
        with _open(data, max_pixels) as img:
            img.load()
            fmt, mode, (width, height) = img.format, img.mode, img.size
            if fmt in JPEG_FORMATS and mode in KEEP_MODES:
                return Checked(data, height, width, None, warning)
            buf = io.BytesIO()
            img.convert("RGB").save(buf, format="JPEG", quality=REENCODE_QUALITY, subsampling=0)
    except BadImage:
        raise
    except Exception as exc:  # Pillow raises many types for bad files; each one is a skip reason
        raise BadImage(_reason(exc, warning))
    kind = reencode_kind(fmt, mode)
    return Checked(buf.getvalue(), height, width, kind, warning)
