"""Per-image predictions of one evaluation: eval/step-<step>.predictions.npz beside its JSON.

One row per validation image, in validation order (the shards in name order, records in file order):

    record_id          str [N]      '<shard file>:<record index in that shard>' (unique)
    file_name          str [N]      the record's file name (its layout's key; '' when it has none)
    label              int32 [N]    the label the model was scored against
    top5               int32 [N, k] class ids, most probable first (k = min(5, num_classes))
    label_probability  float32 [N]  softmax probability of the label
    top1_correct       bool [N]     the hit that counts in top-1 (tf.nn.in_top_k, as the eval sums)
    top5_correct       bool [N]     the hit that counts in top-5

The file is an ordinary .npz (numpy.load reads it, no pickles) written with fixed zip timestamps, so
equal predictions give equal bytes. Runs in the Ascend container: Python 3.7, numpy only.
"""

import io
import os
import zipfile

import numpy as np

from resnext import atomic

FIELDS = (
    "record_id",
    "file_name",
    "label",
    "top5",
    "label_probability",
    "top1_correct",
    "top5_correct",
)
_KINDS = {
    "record_id": "U",
    "file_name": "U",
    "label": "i",
    "top5": "i",
    "label_probability": "f",
    "top1_correct": "b",
    "top5_correct": "b",
}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip member can carry


class PredictionsError(ValueError):
    """A predictions file that is missing a field,
    holds the wrong kind of array or cannot be read."""


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class Collector:
    """Gathers the real (mask 1) rows of every evaluation batch, in order."""

    def __init__(self):
        self._parts = {name: [] for name in FIELDS}
        self._in_shard = {}

    def add(self, rows, mask, names, sources):
        """One batch: `rows` {field: array [B, ...]} of the numeric fields, `mask` float [B] (real
        rows first), `names` and `sources` bytes [n] (file name, shard path) of the n real rows."""
        n = int(np.count_nonzero(mask))
        for name in ("label", "top5", "label_probability", "top1_correct", "top5_correct"):
            self._parts[name].append(np.asarray(rows[name])[:n])
        self._parts["file_name"].extend(_text(v) for v in names[:n])
        for source in sources[:n]:
            shard = os.path.basename(_text(source))
            index = self._in_shard.get(shard, 0)
            self._in_shard[shard] = index + 1
            self._parts["record_id"].append("%s:%d" % (shard, index))

    def arrays(self, k):
        """{field: array} of every row added (empty arrays of the right shape when none were)."""
        out = {}
        for name in ("label", "top5", "label_probability", "top1_correct", "top5_correct"):
            empty = np.zeros((0, k) if name == "top5" else (0,))
            out[name] = np.concatenate(self._parts[name]) if self._parts[name] else empty
        out["label"] = out["label"].astype(np.int32)
        out["top5"] = out["top5"].astype(np.int32).reshape(-1, k)
        out["label_probability"] = out["label_probability"].astype(np.float32)
        out["top1_correct"] = out["top1_correct"].astype(bool)
        out["top5_correct"] = out["top5_correct"].astype(bool)
        out["record_id"] = np.array(self._parts["record_id"], dtype=np.str_)
        out["file_name"] = np.array(self._parts["file_name"], dtype=np.str_)
        return out


def to_bytes(arrays):
    """The .npz bytes of `arrays` (members in FIELDS order, deflated, fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in FIELDS:
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as member:
                np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
    return buffer.getvalue()


def write(path, arrays):
    """Write the predictions file atomically; returns its bytes (the caller hashes them once)."""
    data = to_bytes(arrays)
    atomic.write_bytes(path, data)
    return data


def _check(path, arrays):
    missing = [name for name in FIELDS if name not in arrays]
    if missing:
        raise PredictionsError(
            "%s: not a predictions file (missing %s)" % (path, ", ".join(missing))
        )
    n = len(arrays["label"])
    for name in FIELDS:
        value = arrays[name]
        if value.dtype.kind != _KINDS[name] or len(value) != n:
            raise PredictionsError(
                "%s: %s is %s of %d rows, expected kind %r and %d rows"
                % (path, name, value.dtype, len(value), _KINDS[name], n)
            )
    if arrays["top5"].ndim != 2:
        raise PredictionsError(
            "%s: top5 must be 2-D [images, k], is %d-D" % (path, arrays["top5"].ndim)
        )


def read(path):
    """{field: array} of a predictions file; PredictionsError naming the file when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise PredictionsError("%s: cannot read predictions (%s)" % (path, exc))
    _check(path, arrays)
    return arrays
