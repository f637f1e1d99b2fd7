"""Atomic file writes: a reader sees the old file or the whole new one, never half of one.

Every output of the package goes through here (temp file in the same folder, fsync, rename), and
every file written in place (a lock, a log, JSON lines, a temp file) is opened by `open_in_place`,
which never writes through a symbolic link. It also holds the package's one file-hashing loop
(hash_file, sha256_file: manifests, shard checks, checkpoints, the report).
Runs in the Ascend container: Python 3.7, no TensorFlow.
"""

import errno
import fcntl
import hashlib
import json
import logging
import math
import os
import stat

log = logging.getLogger(__name__)


def tmp_name(path):
    """The temp file `path` is written as before the rename
    (never matched by a reader's pattern)."""
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


class UnsafeFile(OSError):
    """A file we would write in place is a symbolic link, not a regular file, or has other names
    (hard links): writing it would change a file elsewhere. The message names it and what to do."""

    def __str__(self):
        return self.strerror


def _refuse(path, why, todo):
    message = "refusing to write %s: it is %s; resnext never writes through it. %s"
    return UnsafeFile(errno.ELOOP, message % (path, why, todo), path)


def _checked(fd, path):
    """Raise UnsafeFile unless the open file `fd` is a regular file with this one name."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(
            path,
            "not a regular file (mode %o)" % stat.S_IFMT(info.st_mode),
            "Move it away and run again.",
        )
    if info.st_nlink > 1:
        raise _refuse(
            path,
            "one of %d hard links to the same file (writing it would change "
            "the others too)" % info.st_nlink,
            "Give it a copy of its own (cp it, then "
            "mv the copy over it), or remove it, and run again.",
        )


def open_in_place(path, flags, mode=0o644):
    """os.open(path, flags) for a file written in place; -> a file descriptor.

    The last component of `path` is never followed: a symbolic link there (planted, or left by a
    copy) raises UnsafeFile naming it, as do a FIFO, a device or a file with several hard links;
    nothing is truncated or written before those checks (O_TRUNC is applied after them). Links in
    the folders above are followed: a results_dir on another disk is a link users make.
    """
    truncate = bool(flags & os.O_TRUNC)
    try:
        fd = os.open(path, (flags & ~os.O_TRUNC) | os.O_NOFOLLOW | os.O_NONBLOCK, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(path):
            raise _refuse(
                path,
                "a symbolic link (to %s)" % os.readlink(path),
                "Remove the link (it is not ours) and run again.",
            )
        if exc.errno == errno.ENXIO and os.path.exists(path):  # a FIFO no process reads
            raise _refuse(path, "not a regular file", "Move it away and run again.")
        raise
    try:
        _checked(fd, path)
        os.set_blocking(fd, True)
        if truncate:
            os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_in_place(path):
    """Raise UnsafeFile if `path` exists but open_in_place would refuse it (checked without opening,
    so a stage can refuse before it starts the process that writes the file)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise _refuse(
            path,
            "a symbolic link (to %s)" % os.readlink(path),
            "Remove the link (it is not ours) and run again.",
        )
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        _checked(fd, path)
    finally:
        os.close(fd)


def lock_in_place(path, note):
    """Take the exclusive flock of the lock file `path` without waiting; -> its open descriptor
    (close it to let go), or None when another process holds it.

    The file is opened by open_in_place (never through a link), and `note` (who holds it: a dict,
    written as JSON for lock_note, or a str written as it is) replaces its content only once the
    lock is ours. flock belongs to the open file, so the kernel
    lets go when the holder dies, however it dies: a stale lock file is never a held lock. The
    file is written in place, not renamed: a new inode would let a second process lock it too.
    A lock whose file was removed by its holder (unlock with remove) meanwhile is taken again on
    the new file, so two processes never hold one name.
    """
    while True:
        fd = open_in_place(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _same_file(fd, path):
                break
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # we locked a file its holder had just removed: lock the new one
    os.ftruncate(fd, 0)
    text = note if isinstance(note, str) else json.dumps(note, sort_keys=True)
    os.write(fd, text.encode("utf-8"))
    return fd


def _same_file(fd, path):
    """True when `path` still names the open file `fd` (not removed, not replaced)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (info.st_dev, info.st_ino) == (mine.st_dev, mine.st_ino)


def unlock(fd, path=None):
    """Let go of a lock_in_place lock; with `path`, remove the lock file first (while it is
    still held: a process that opened it meanwhile sees it gone and locks a new one)."""
    try:
        if path is not None and _same_file(fd, path):
            os.remove(path)
    finally:
        os.close(fd)


NOTE_BYTES = 1 << 16  # a holder's note is one short JSON object


def lock_note(path):
    """The note a lock's holder wrote into `path` (lock_in_place), {} when it cannot be read.

    Read like every lock file, without following a link. A refusal quotes the note in its one line,
    so of a hand-edited note only numbers and printable strings are kept (no newline, no escape),
    and binary, deeply nested or huge content reads as {}.
    """
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as f:
            note = json.loads(f.read(NOTE_BYTES).decode("utf-8") or "{}")
    except (OSError, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return {}
    if not isinstance(note, dict):
        return {}
    return {
        k: v
        for k, v in note.items()
        if isinstance(v, int) or (isinstance(v, str) and v.isprintable())
    }


def write_bytes(path, data):
    """Write `data` (bytes) to `path` atomically, creating the folder if needed.

    An OSError (a full disk, say) names `path` and leaves no temp file;
    an earlier `path` stays whole.
    """
    make_parent(path)
    tmp = tmp_name(path)
    try:
        with open(open_in_place(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except UnsafeFile:
        raise  # the temp name is a link or another file's name: not ours to remove
    except OSError as exc:
        remove_quietly(tmp)
        name_the_file(exc, path, tmp)
        raise
    except BaseException:
        remove_quietly(tmp)
        raise


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))


def _finite(value, where, found):
    """`value` with every NaN / Infinity float (at any depth) replaced by None; `found` gets one
    "<where> is NaN" (or Infinity, -Infinity) per replacement."""
    if isinstance(value, float) and not math.isfinite(value):
        found.append(
            "%s is %s"
            % (
                where or "value",
                "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity",
            )
        )
        return None
    if isinstance(value, dict):
        return {
            k: _finite(v, "%s.%s" % (where, k) if where else str(k), found)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_finite(v, "%s[%d]" % (where, i), found) for i, v in enumerate(value)]
    return value


def json_text(obj, indent=None, what="record"):
    """Strict JSON of `obj` (sorted keys): never NaN or Infinity, which are not JSON.

    Each non-finite float becomes null, and a record (a dict) names it in its "warnings" list
    ("loss is NaN", "top1_ci95[0] is Infinity"), so a reader sees why the value is missing;
    the writer logs it too.
    """
    found = []
    clean = _finite(obj, "", found)
    found.sort()
    if found:
        log.warning("%s: %s; written as null", what, "; ".join(found))
        if isinstance(clean, dict):
            earlier = clean.get("warnings")
            earlier = [w for w in earlier if w not in found] if isinstance(earlier, list) else []
            clean["warnings"] = earlier + found
    return json.dumps(clean, indent=indent, sort_keys=True, allow_nan=False)


def write_json(path, obj):
    """JSON with sorted keys and a trailing newline, so equal results give equal files
    (json_text: a non-finite float is written as null with a warning)."""
    write_text(path, json_text(obj, indent=2, what=path) + "\n")


def append_line(path, line):
    """Append one line (e.g. a JSON-lines record) and fsync; a crash can lose at most that line.

    An OSError names `path`; a symbolic link (or a hard-linked file) there raises UnsafeFile.
    """
    make_parent(path)
    try:
        fd = open_in_place(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with open(fd, "a", encoding="utf-8") as f:
            f.write(line.rstrip("\n") + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        name_the_file(exc, path, None)
        raise


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_tail(path, lines, max_bytes):
    """The last `lines` lines (str; bytes that are not UTF-8 replaced) of the text file at `path`,
    read from at most its last `max_bytes`, so a huge log costs one small read; None if no file."""
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - max_bytes))
        text = f.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def hash_file(path, digest=None, chunk=1 << 20, on_read=None):
    """Feed a file's bytes to `digest` (a new hashlib.sha256() when None) in `chunk`-byte reads;
    -> the digest, for a hash over several files (checkpoints.sha256). on_read(n), when given, is
    called with the size of each read (a progress count)."""
    digest = hashlib.sha256() if digest is None else digest
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
            if on_read is not None:
                on_read(len(block))
    return digest


def sha256_file(path, chunk=1 << 20, on_read=None):
    """Hex SHA-256 of a file's bytes (on_read: see hash_file)."""
    return hash_file(path, chunk=chunk, on_read=on_read).hexdigest()
