"""The repeats summary (resnext repeats) on the real tiny runs of conftest.py, and the report's
link to it."""

import json
import os
import statistics

import pandas as pd
import pytest

from report.report_fakes import write_tree  # tests/report (tests/ is on sys.path)
from resnext.cli import main
from resnext.compare import write_compare
from resnext.report import build_report


def _records(run):
    """(final eval record, block records) read straight from the run's JSON files."""
    evals = [
        json.load(open(os.path.join(run, "eval", n)))
        for n in os.listdir(os.path.join(run, "eval"))
        if n.endswith(".json")
    ]
    blocks = [
        json.load(open(os.path.join(run, "train", n)))
        for n in os.listdir(os.path.join(run, "train"))
        if n.startswith("block-")
    ]
    return max(evals, key=lambda r: r["step"]), blocks


def test_summary_mean_and_sd_and_the_pairs(runs, tmp_path):
    folders = [runs["a"], runs["b"], runs["lr"]]
    pairs = []
    for i, (x, y) in enumerate([(0, 1), (0, 2), (1, 2)]):
        pairs.append(str(tmp_path / ("pair%d" % i)))
        write_compare(folders[x], folders[y], pairs[-1])
    out = tmp_path / "summary"
    assert main(["repeats", "--out", str(out), "--runs", *folders, "--compares", *pairs]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    finals = [_records(f) for f in folders]
    expected = {
        "top1": [f[0]["top1"] for f in finals],
        "top5": [f[0]["top5"] for f in finals],
        "time_to_train_s": [sum(b["wall_time_s"] for b in f[1]) for f in finals],
    }
    for key, values in expected.items():
        assert summary["spread"][key]["mean"] == pytest.approx(statistics.mean(values), abs=1e-12)
        assert summary["spread"][key]["sd"] == pytest.approx(statistics.stdev(values), abs=1e-12)
    assert summary["spread"]["top1"]["n"] == 3
    table = pd.read_csv(out / "summary.csv")
    assert list(table["run"]) == ["a", "b", "lr", "mean", "sd"]
    assert (out / "summary.csv").read_text().splitlines()[1].startswith("a,0,8,")
    assert table["top1"].iloc[4] == pytest.approx(statistics.stdev(expected["top1"]))
    assert [(p["a"], p["b"]) for p in summary["pairs"]] == [("a", "b"), ("a", "lr"), ("b", "lr")]
    assert summary["pairs"][0]["verdict"].startswith("no difference")
    for pair, folder in zip(summary["pairs"], pairs):  # the final step: raw and Holm p
        final = json.loads((tmp_path / folder / "compare.json").read_text())["steps"][-1]
        top1 = final["paired"]["top1"]
        assert (pair["top1_p_value"], pair["top1_p_holm"]) == (top1["p_value"], top1["p_holm"])
    md = (out / "summary.md").read_text(encoding="utf-8")
    assert "[compare a vs b (../pair0/compare.md)](../pair0/compare.md)" in md
    assert "Holm p" in md


def test_a_damaged_pair_is_named(runs, tmp_path, caplog):
    pair = tmp_path / "pair"
    pair.mkdir()
    (pair / "compare.json").write_text("{\"runs\": ")
    code = main(
        [
            "repeats",
            "--out",
            str(tmp_path / "o"),
            "--runs",
            runs["a"],
            runs["b"],
            "--compares",
            str(pair),
        ]
    )
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert code == 2 and len(errors) == 1 and "compare.json" in errors[0]
    assert not (tmp_path / "o").exists()


def test_the_report_of_a_repeat_links_to_the_summary(tmp_path):
    cfg = write_tree(
        tmp_path,
        overrides={"run_name": "demo-s3", "seed": 3, "repeat_of": "demo", "repeat_seeds": [3, 4]},
    )
    written = build_report(cfg)
    md = open(written["report.md"], encoding="utf-8").read()
    href = "../../demo-repeats/summary.md"
    assert "This run is the repeat of run demo with seed 3 (repeat_seeds [3, 4])" in md
    assert "[repeats summary (%s)](%s)" % (href, href) in md
    assert '<a href="%s">' % href in open(written["report.html"], encoding="utf-8").read()


def test_a_plain_run_links_only_when_the_summary_exists(tmp_path):
    cfg = write_tree(tmp_path, overrides={"repeat_seeds": [1, 2]})
    assert "## Repeats" not in open(build_report(cfg)["report.md"], encoding="utf-8").read()
    summary = os.path.join(cfg.results_dir, "demo-repeats", "summary.md")
    os.makedirs(os.path.dirname(summary))
    open(summary, "w").close()
    assert (
        "Run demo has repeats with seeds [1, 2]."
        in open(build_report(cfg)["report.md"], encoding="utf-8").read()
    )
