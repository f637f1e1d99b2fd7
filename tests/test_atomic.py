"""resnext.atomic: read_tail (the end of a log for an error message), lock_in_place's note and
lock_note."""

import os

from resnext import atomic


def test_the_last_lines_from_the_last_bytes(tmp_path):
    path = tmp_path / "rank-0.log"
    path.write_bytes(b"".join(b"line %d\n" % n for n in range(1000)))
    assert atomic.read_tail(str(path), 3, 8192) == "line 997\nline 998\nline 999"
    assert atomic.read_tail(str(path), 1000, 18) == "line 998\nline 999"  # no more than max_bytes


def test_missing_file_and_undecodable_bytes(tmp_path):
    assert atomic.read_tail(str(tmp_path / "absent.log"), 5, 100) is None
    path = tmp_path / "bad.log"
    path.write_bytes(b"ok\n\xff\xfe broken\n")
    assert atomic.read_tail(str(path), 5, 100) == "ok\n\ufffd\ufffd broken"


def test_lock_note_keeps_numbers_and_printable_strings_only(tmp_path):
    path = tmp_path / ".lock"
    path.write_bytes(b'{"pid": 7, "host": "a\\nb", "esc": "\\u001b[2J", "ok": "jpegs", "x": [1]}')
    assert atomic.lock_note(str(path)) == {"pid": 7, "ok": "jpegs"}
    for content in (b"\xff\xfe", b"[" * 100000, b"[1]", b"{", b""):
        path.write_bytes(content)
        assert atomic.lock_note(str(path)) == {}
    link = tmp_path / "link"
    link.symlink_to(path)
    path.write_bytes(b'{"pid": 7}')
    assert atomic.lock_note(str(link)) == {}  # never read through a link
    assert atomic.lock_note(str(tmp_path / "absent")) == {}


def test_a_lock_note_is_json_or_text_as_given_and_replaces_the_old_content(tmp_path):
    path = str(tmp_path / "device-0.lock")
    with open(path, "w") as f:
        f.write("a much longer note left by an earlier holder\n")
    fd = atomic.lock_in_place(path, "123\n")  # the device pool's note: the pid as text
    try:
        assert open(path).read() == "123\n"
        assert atomic.lock_in_place(path, {"pid": 1}) is None  # held (flock: per open file)
    finally:
        atomic.unlock(fd)
    fd = atomic.lock_in_place(path, {"pid": 7, "stage": "x"})
    try:
        assert atomic.lock_note(path) == {"pid": 7, "stage": "x"}
    finally:
        atomic.unlock(fd, path)
    assert not os.path.lexists(path)
