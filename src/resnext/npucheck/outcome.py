"""One item of `resnext npu-check`: run it timed, end it in PASS, FAIL (with its log tail) or SKIP
(with the reason), and the record of the whole check (<out>/npu-check.json, written atomically).

An item is a function -> a one-line detail (PASS); it raises Skip(reason) or Failed(what, tail),
and any other exception is a FAIL too, with the tail of the item's log. Each item logs to
<out>/logs/<name>.log. Python 3.7 (it runs in the Ascend container).
"""

import logging
import os
import time
import traceback

from resnext import atomic

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
TAIL_LINES = 20
FAKE_NOTE = (
    "npu_bridge is the test fake (tests/fakes/npu_bridge): a PASS against it proves "
    "nothing about the device, its driver, CANN or HCCL"
)
ITEMS = (
    (1, "versions", "npu-smi, driver and CANN versions"),
    (2, "software", "Python, TensorFlow and npu_bridge versions"),
    (3, "one-device", "1-device tiny run, iterations_per_loop 10: steps, loss, checkpoint"),
    (4, "two-devices", "2-device run: HCCL broadcast and all-reduce keep weights equal"),
    (5, "eval-export", "evaluation and export of item 3's checkpoint on one device"),
    (6, "rank-table", "the rank table of the devices found"),
)
NAMES = tuple(name for _, name, _ in ITEMS)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Skip(Exception):
    """The item cannot run here; the message says why (what is absent)."""


class Failed(Exception):
    """The item ran and found a fault: what it found, and the log lines that show it."""

    def __init__(self, message, tail=""):
        super().__init__(message)
        self.tail = tail


def tail_of(path, lines=TAIL_LINES):
    """The last `lines` lines of a text file ('' if it does not exist)."""
    return atomic.read_tail(path, lines, 16384) or ""


SMI_OUTPUT = "npu-smi.txt"  # beside the item logs: what `npu-smi info` printed
WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


def item_log(log_dir, name):
    """<log_dir>/<name>.log: the log of one item."""
    return os.path.join(log_dir, "%s.log" % name)


def log_files(log_dir):
    """Every file the check writes in place in <log_dir> (each item's log, npu-smi's output)."""
    return [item_log(log_dir, name) for name in NAMES] + [os.path.join(log_dir, SMI_OUTPUT)]


def refuse_unsafe_logs(log_dir):
    """atomic.UnsafeFile naming the first of log_files that is a planted link (or not a plain
    file of its own): checked before any item runs, so nothing is written through it."""
    for path in log_files(log_dir):
        atomic.check_in_place(path)


def open_log(path, mode="w"):
    """A log file of the check, opened in place (atomic.open_in_place: never through a link)."""
    binary = "b" in mode
    return os.fdopen(
        atomic.open_in_place(path, WRITE_FLAGS), mode, **({} if binary else {"encoding": "utf-8"})
    )


def run_item(number, name, title, func, log_dir):
    """Run func() (-> detail str) with its logging copied to <log_dir>/<name>.log; -> the record
    {item, name, title, status, detail, seconds, log, log_tail}."""
    path = item_log(log_dir, name)
    handler = logging.StreamHandler(open_log(path))
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    t0 = time.time()
    status, tail = PASS, ""
    try:
        detail = func()
    except Skip as exc:
        status, detail = SKIP, str(exc)
    except Exception as exc:  # noqa: BLE001 - every fault of an item is its FAIL, not the check's
        status, detail = FAIL, str(exc) or type(exc).__name__
        tail = getattr(exc, "tail", "")
        if not isinstance(exc, Failed):
            logging.getLogger(__name__).error("%s", traceback.format_exc())
    finally:
        root.removeHandler(handler)
        handler.stream.close()
    if status == FAIL and not tail:
        tail = tail_of(path)
    return {
        "item": number,
        "name": name,
        "title": title,
        "status": status,
        "detail": detail,
        "seconds": round(time.time() - t0, 1),
        "log": path,
        "log_tail": tail,
    }


def line(result):
    """The console line of one item: `[3] one-device ... PASS (12.3 s) detail`."""
    text = "[%d] %-12s %s  %6.1f s  %s" % (
        result["item"],
        result["name"],
        result["status"],
        result["seconds"],
        " ".join(result["detail"].split()),
    )
    return printable(text)


def printable(text):
    """text with undecodable path bytes (surrogate escapes) shown as \\x.. escapes: printable."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def tail_lines(result):
    """The log tail of a FAILed item, indented, for the console."""
    if result["status"] != FAIL or not result["log_tail"]:
        return []
    return [printable("      | " + text) for text in result["log_tail"].splitlines()]


def write_record(path, results, fake, started, seconds):
    """<out>/npu-check.json: every item, whether the bridge was the fake, and the verdict."""
    failed = [r["name"] for r in results if r["status"] == FAIL]
    record = {
        "passed": not failed,
        "failed": failed,
        "items": results,
        "fake_npu_bridge": fake,
        "note": FAKE_NOTE if fake else None,
        "started_utc": started,
        "seconds": round(seconds, 1),
    }
    atomic.write_json(path, record)
    return record
