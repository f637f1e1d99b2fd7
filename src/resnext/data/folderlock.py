"""One writer at a time in a data folder: `resnext convert` (its shards and manifest) and
`resnext index` (<run>/data/manifest.json) both hold <data>/.convert.lock (resnext.paths) while
they write it, so two of them never interleave; the second is refused at once, naming the first.

The lock is atomic.lock_in_place's flock (never through a link; the kernel lets go when its holder
dies, so a killed writer's lock is free at once) and is removed when its holder lets go. Host only.
"""

import contextlib
import os

from resnext import atomic, paths
from resnext.config import ConfigError
from resnext.train import records

# writer -> (what its note says it is doing, what a holder with an unreadable note is called)
WRITERS = {"convert": ("converting", "another conversion"), "index": ("indexing", "another index")}


@contextlib.contextmanager
def holding(folder, source, writer):
    """Hold `folder`'s lock for the with-block; `writer` is "convert" or "index" (WRITERS),
    `source` what it reads (the JPEG tree, the shard folder), both quoted to a refused writer.

    Raises ConfigError (one line: the holder's pid, what it does since when, the lock) when
    another process holds it; nothing is changed then. Creates `folder` if missing, and removes
    what it created if the folder is still empty when it lets go (a refused or failed index
    leaves no empty run folder behind).
    """
    made = _make_folder(folder)
    try:
        path = paths.convert_lock(folder)
        note = {"pid": os.getpid(), "source": source, "started_utc": records.utc_now()}
        fd = atomic.lock_in_place(path, dict(note, writer=writer))
        if fd is None:
            raise ConfigError(_refusal(folder, path))
        try:
            yield
        finally:
            atomic.unlock(fd, path)
    finally:
        _remove_empty(made)


def _refusal(folder, path):
    """The refusal's text, from the holder's note (atomic.lock_note: printable strings only); a
    note without a writer is a conversion's (written before index took the lock too)."""
    note = atomic.lock_note(path)
    doing, unknown = WRITERS.get(note.get("writer"), WRITERS["convert"])
    who = (
        "pid %s (%s %s since %s)"
        % (note["pid"], doing, note.get("source"), note.get("started_utc"))
        if "pid" in note
        else unknown
    )
    return (
        "%s is %s into %s (it holds %s); nothing was changed: wait for it to finish or stop it, "
        "then run again" % (who, doing, folder, path)
    )


def _make_folder(folder):
    """Create `folder` and any missing parent; -> the folders created, deepest first."""
    made, up = [], os.path.abspath(folder)
    while not os.path.isdir(up) and up != os.path.dirname(up):
        made.append(up)
        up = os.path.dirname(up)
    os.makedirs(folder, exist_ok=True)
    return made


def _remove_empty(made):
    """rmdir each folder of `made` (deepest first) that is empty; one that is not stays, and so do
    its parents (rmdir never removes a folder with something in it)."""
    for folder in made:
        try:
            os.rmdir(folder)
        except OSError:
            return
