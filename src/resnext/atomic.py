"""Atomic file writes: a reader sees the old file or the whole new one, never half of one.

Every output of the package goes through here (temp file in the same folder, fsync, rename).
Runs in the Ascend container: Python 3.7, no TensorFlow.
"""
import io
import json
import os


def tmp_name(path):
    """The temp file `path` is written as before the rename (never matched by a reader's pattern)."""
    return "%s.tmp-%d" % (path, os.getpid())


def make_parent(path):
    """Create the folder `path` goes in, if missing."""
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        os.makedirs(folder, exist_ok=True)


def name_the_file(exc, path, tmp):
    """Make a failed write's OSError name `path`.

    write() and fsync() raise errors without a file name ("[Errno 28] No space left on device"), and
    our temp name means nothing to the reader: the error names the file they asked for instead.
    """
    if exc.errno is not None and exc.filename in (None, tmp):
        exc.filename = path


def remove_quietly(tmp):
    """Remove a temp file after a failed write; a failure here must not hide the write's error."""
    try:
        if os.path.exists(tmp):
            os.remove(tmp)
    except OSError:
        pass


def write_bytes(path, data):
    """Write `data` (bytes) to `path` atomically, creating the folder if needed.

    An OSError (a full disk, say) names `path` and leaves no temp file; an earlier `path` stays whole.
    """
    make_parent(path)
    tmp = tmp_name(path)
    try:
        with io.open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        remove_quietly(tmp)
        name_the_file(exc, path, tmp)
        raise
    except BaseException:
        remove_quietly(tmp)
        raise


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj):
    """JSON with sorted keys and a trailing newline, so equal results give equal files."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def append_line(path, line):
    """Append one line (e.g. a JSON-lines record) and fsync; a crash can lose at most that line.

    An OSError names `path`.
    """
    make_parent(path)
    try:
        with io.open(path, "a", encoding="utf-8") as f:
            f.write(line.rstrip("\n") + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        name_the_file(exc, path, None)
        raise


def read_json(path):
    with io.open(path, encoding="utf-8") as f:
        return json.load(f)
