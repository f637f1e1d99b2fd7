"""resnext.atomic: read_tail, the end of a log for an error message (launcher ranks, npu-check)."""
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
