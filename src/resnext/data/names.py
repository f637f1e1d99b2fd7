"""File and folder names as they enter a conversion: only names that are valid UTF-8 are taken.

A name the file system holds as bytes that are not UTF-8 reaches Python (os.scandir, os.walk on a
str path) with lone surrogates in place of those bytes (PEP 383). Such a name cannot be stored in a
record's `image/filename`, a manifest or a report, so the listing refuses it at once, naming the
path with its bytes shown as \\xNN. Host and container: Python 3.7, no TensorFlow.
"""

import os


class BadName(ValueError):
    """A source path whose name is not valid UTF-8; str() names it and says what to do."""


def shown(path):
    """`path` printable on one line: undecodable bytes and control characters as \\xNN."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(
        c if c.isprintable() else "\\x%02x" % ord(c) if ord(c) < 256 else "\\u%04x" % ord(c)
        for c in text
    )


def is_utf8(name):
    """True when `name` (a str from the file system) decodes from valid UTF-8 bytes."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: an undecodable byte (surrogateescape)
        return False
    return True


def check(path):
    """`path`, or BadName when its name (any component) is not valid UTF-8."""
    if not is_utf8(path):
        raise BadName(
            "%s: this name is not valid UTF-8 (the bytes shown as \\xNN), so it cannot "
            "be stored in a shard or the manifest. Rename it (e.g. convmv -f latin1 -t "
            "utf8), or move it out of the source tree, and run again" % shown(path)
        )
    return path
