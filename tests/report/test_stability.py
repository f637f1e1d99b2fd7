"""Stability: report.md from two runs of the same config differs only where it shows times.

Two real runs of one config give the same accuracies, losses, hashes and counts (training is
deterministic), but their wall-clock stamps, durations and measured speeds differ. The second
"run" here is the first tree with every *_utc field shifted and every duration / speed field
scaled, nothing else; the two reports may then differ only in lines (or table cells) that show a
UTC time, a duration or a speed.
"""

import datetime as dt
import json
import os
import re

from report_fakes import write_tree
from resnext.report import build_report, sections
from resnext.report.fmt import TIMESTAMP_PATTERN

SHIFT = dt.timedelta(days=3, seconds=14706)
SLOWER = 1.13
DURATION_KEYS = ("wall_time_s", "step_time_ms")
SPEED_KEYS = ("images_per_sec",)
# report.md facts and table columns that show a duration or a speed
TIME_FACTS = {
    "Time to train (sum of block wall times)",
    "Time to target accuracy",
    "Mean throughput",
}
TIME_COLUMNS = re.compile(r"images/s|jitter|per device|wall time|step ms|vs reference")
TIME_ROWS = {"throughput per device"}  # the verdict row judging the measured speed


def _rerun(value, key=""):
    """The same record as a second run would write it: times shifted,
    durations and speeds scaled."""
    if isinstance(value, dict):
        return {k: _rerun(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_rerun(v, key) for v in value]
    if key.endswith("_utc") and isinstance(value, str):
        return (dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ") + SHIFT).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    if isinstance(value, float) and key.startswith(DURATION_KEYS):
        return value * SLOWER
    if isinstance(value, float) and key.startswith(SPEED_KEYS):
        return value / SLOWER
    return value


def _rewrite_as_second_run(run_dir):
    for folder, _, files in os.walk(run_dir):
        if os.path.relpath(folder, run_dir) == "report":
            continue
        for name in files:
            path = os.path.join(folder, name)
            if not name.endswith((".json", ".jsonl")):
                continue
            with open(path, encoding="utf-8") as f:
                records = (
                    [json.loads(line) for line in f] if name.endswith(".jsonl") else [json.load(f)]
                )
            again = [_rerun(r) for r in records]
            if again != records:  # files without times (the manifest) keep their bytes and hash
                with open(path, "w", encoding="utf-8") as f:
                    f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in again))


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _time_dependent(a, b, header):
    """True if lines a and b differ only in what shows a time, a duration or a speed."""
    if re.search(TIMESTAMP_PATTERN, a) and re.search(TIMESTAMP_PATTERN, b):
        return True
    fact = re.match(r"- \*\*(.+?)\*\*: ", a)
    if fact:
        return fact.group(1) in TIME_FACTS and b.startswith(fact.group(0))
    if a.startswith("| ") and header:
        cells_a, cells_b = _cells(a), _cells(b)
        if cells_a[0] in TIME_ROWS and cells_b[0] == cells_a[0]:
            return True
        return len(cells_a) == len(cells_b) == len(header) and all(
            x == y or TIME_COLUMNS.search(h) for h, x, y in zip(header, cells_a, cells_b)
        )
    return False


def _unexplained_differences(first, second):
    lines_a, lines_b = first.splitlines(), second.splitlines()
    assert len(lines_a) == len(lines_b)
    header, bad, changed = None, [], 0
    for i, (a, b) in enumerate(zip(lines_a, lines_b)):
        if a.startswith("| ") and i + 1 < len(lines_a) and lines_a[i + 1].startswith("|---"):
            header = _cells(a)
        elif not a.startswith("|"):
            header = None
        if a != b:
            changed += 1
            if not _time_dependent(a, b, header):
                bad.append((a, b))
    return changed, bad


def test_two_runs_of_one_config_differ_only_in_times_and_speeds(tmp_path):
    cfg = write_tree(tmp_path)
    first = open(build_report(cfg)["report.md"], encoding="utf-8").read()
    _rewrite_as_second_run(cfg.run_dir)
    second = open(build_report(cfg)["report.md"], encoding="utf-8").read()
    changed, bad = _unexplained_differences(first, second)
    assert bad == []
    assert changed >= 10  # the rewrite really changed times and speeds
    assert "2026-12-02 11:05:06" in second  # 07:00:00 shifted
    assert sections.STABILITY_NOTE in first


def test_the_classifier_catches_a_changed_accuracy():
    table = "| epoch | step | top-1 % | eval images/s |\n|---|---|---|---|\n"
    changed, bad = _unexplained_differences(
        table + "| 1.00 | 10 | 61.611 | 500.0 |", table + "| 1.00 | 10 | 61.612 | 400.0 |"
    )
    assert changed == 1 and len(bad) == 1
    changed, bad = _unexplained_differences(
        table + "| 1.00 | 10 | 61.611 | 500.0 |", table + "| 1.00 | 10 | 61.611 | 400.0 |"
    )
    assert changed == 1 and bad == []
