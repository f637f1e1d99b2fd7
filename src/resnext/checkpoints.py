"""Finding checkpoints on disk. A checkpoint exists only once its `.index` file does.

TensorFlow's Saver writes the data shards first and the index last (by rename), so an index on
disk means a whole checkpoint. Python 3.7, no TensorFlow.
"""

import glob
import hashlib
import os
import re

from resnext import atomic, paths

_STEP = re.compile(re.escape(paths.CKPT_PREFIX) + r"-(\d+)" + re.escape(paths.INDEX_SUFFIX) + "$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: of another model, or with files TensorFlow cannot read.
    The message names the checkpoint (and the first mismatched variable) and what to do."""


def complete_steps(train_dir):
    """Sorted global steps of the complete checkpoints in <train_dir>/ckpt."""
    steps = []
    pattern = paths.index_of(paths.ckpt_prefix(train_dir, "*"))
    for index in glob.glob(pattern):
        match = _STEP.search(os.path.basename(index))
        if match:
            steps.append(int(match.group(1)))
    return sorted(steps)


def latest_step(train_dir):
    steps = complete_steps(train_dir)
    return steps[-1] if steps else None


def step_of(path):
    """Global step encoded in a checkpoint prefix or index path ('.../model.ckpt-440' -> 440)."""
    match = re.search(r"-(\d+)(\.index)?$", path)
    if not match:
        raise ValueError("cannot read a global step from checkpoint path %r" % path)
    return int(match.group(1))


# a checkpoint's own files; TensorFlow's `<file>.tempstate<N>` of a save in flight
# (or killed) are not
_OWN_SUFFIX = re.compile(r"\.(index|meta|data-\d+-of-\d+)")


def files_of(prefix):
    """The files that make up checkpoint `prefix` (index first), sorted: index, data shards and meta
    graph, without the temp files of a save."""
    base = os.path.basename(prefix)
    own = [
        p
        for p in glob.glob(prefix + ".*")
        if _OWN_SUFFIX.fullmatch(os.path.basename(p)[len(base) :])
    ]
    return sorted(own, key=lambda p: (not p.endswith(paths.INDEX_SUFFIX), p))


def is_complete(prefix):
    """True when checkpoint `prefix` is complete: its .index exists."""
    return os.path.isfile(paths.index_of(prefix))


def require(prefix):
    """Raise FileNotFoundError unless checkpoint `prefix` is complete (its .index exists)."""
    if not is_complete(prefix):
        raise FileNotFoundError(
            "checkpoint %s is missing or incomplete (no %s.index); train that block first"
            % (prefix, os.path.basename(prefix))
        )


def sha256(prefix, chunk=1 << 20, on_read=None):
    """One hash over the checkpoint's own files (files_of: index + data shards), in a fixed order.
    chunk, on_read: see atomic.hash_file."""
    digest = hashlib.sha256()
    for path in files_of(prefix):
        digest.update(os.path.basename(path).encode("utf-8"))
        atomic.hash_file(path, digest, chunk, on_read)
    return digest.hexdigest()
