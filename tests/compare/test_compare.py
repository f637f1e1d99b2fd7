"""resnext compare on the real tiny runs of conftest.py (`runs`)."""

import json
import math
import os
import shutil

import pandas as pd
import pytest

from resnext.cli import main
from resnext.compare import CompareError, compare, write_compare


def test_same_seed_gives_identical_predictions_p_1_and_no_difference(runs, tmp_path):
    written = write_compare(runs["a"], runs["b"], str(tmp_path / "out"))
    result = json.loads(open(written["json"], encoding="utf-8").read())
    assert result["config_differs"] == []
    assert [e["key"] for e in result["operations_differ"]] == ["run_name"]
    assert result["validation_data"]["same"] and "same manifest" in result["validation_data"]["how"]
    assert len(result["steps"]) == 2
    for step in result["steps"]:
        assert step["paired"]["identical_predictions"] is True
        for key in ("top1", "top5"):
            test = step["paired"][key]
            assert (test["a_only"], test["b_only"], test["p_value"]) == (0, 0, 1.0)
            assert test["conclusion"].startswith("no difference")
            assert step[key + "_delta_pp"] == 0.0
    assert result["verdict"].startswith("no difference")
    assert result["speed"]["images_per_sec_ratio"] > 0
    md = open(written["md"], encoding="utf-8").read()
    assert "no difference" in md and "none: every key that affects a result is the same" in md
    html = open(written["html"], encoding="utf-8").read()
    assert html.count('<img src="data:image/png;base64,') == 2
    steps = pd.read_csv(written["steps"])
    assert list(steps["step"]) == [4, 8] and list(steps["top1_p_value"]) == [1.0, 1.0]
    assert list(pd.read_csv(written["runs"])["run"]) == ["A", "B"]


def test_changed_learning_rate_is_the_only_key_and_deltas_carry_p_values(runs):
    result, _ = compare(runs["a"], runs["lr"])
    assert [e["key"] for e in result["config_differs"]] == ["learning_rate_maximum"]
    entry = result["config_differs"][0]
    assert (entry["a"], entry["b"], entry["affects"]) == (0.05, 0.2, ["training"])
    for step in result["steps"]:
        for key in ("top1", "top5"):
            test = step["paired"][key]
            assert 0.0 < test["p_value"] <= 1.0
            # the delta is exactly what the discordant images make it
            n = step["num_images_a"]
            discordant = test["b_only"] - test["a_only"]
            assert math.isclose(step[key + "_delta_pp"], 100.0 * discordant / n)
    assert not all(s["paired"]["identical_predictions"] for s in result["steps"])


def test_other_validation_data_refuses_the_paired_test_with_the_reason(runs, tmp_path):
    written = write_compare(runs["a"], runs["other_val"], str(tmp_path / "out"))
    result = json.loads(open(written["json"], encoding="utf-8").read())
    assert not result["validation_data"]["same"]
    reason = "different validation images: 0 file names only in run A, 10 only in run B"
    assert reason in result["validation_data"]["how"]
    assert all(s["paired"] is None and s["not_paired_reason"] == reason for s in result["steps"])
    assert result["verdict"] == "not tested: " + reason
    assert reason in open(written["md"], encoding="utf-8").read()


def _error(argv, caplog):
    caplog.clear()
    code = main(argv)
    return code, [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


def _copy(run, tmp_path, name="copy"):
    target = str(tmp_path / name)
    shutil.copytree(run, target)
    return target


@pytest.mark.parametrize(
    "damage, named",
    [
        ("rm config.resolved.yaml", "config.resolved.yaml"),
        ("edit config.resolved.yaml", "config.resolved.yaml"),
        ("truncate eval/step-4.json", "step-4.json"),
        ("top1 eval/step-8.json", "step-8.json"),
        ("truncate eval/step-4.predictions.npz", "step-4.predictions.npz"),
        ("truncate train/block-1.json", "block-1.json"),
    ],
)
def test_a_damaged_run_ends_in_one_line_naming_the_file(runs, tmp_path, caplog, damage, named):
    run = _copy(runs["a"], tmp_path)
    action, rel = damage.split(" ")
    path = os.path.join(run, rel)
    if action == "rm":
        os.remove(path)
    elif action == "edit":
        with open(path, "a", encoding="utf-8") as f:
            f.write("seed: 3\n")
    elif action == "truncate":
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    else:
        record = json.load(open(path))
        record["top1"] = "high"
        with open(path, "w") as f:
            json.dump(record, f)
    out = tmp_path / "out"
    code, errors = _error(["compare", runs["b"], run, "--out", str(out)], caplog)
    assert code == 2 and len(errors) == 1 and named in errors[0], errors
    assert "\n" not in errors[0] and not out.exists()


def test_a_missing_or_hostile_folder_is_named(runs, tmp_path, caplog):
    hostile = str(tmp_path / "no\nsuch <script>")
    code, errors = _error(["compare", hostile, runs["a"], "--out", str(tmp_path / "o")], caplog)
    assert code == 2 and len(errors) == 1 and "is not a run folder" in errors[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CompareError, match="config.resolved.yaml"):
        compare(runs["a"], str(empty))


def test_out_inside_a_run_or_on_a_file_is_refused_before_anything_is_written(
    runs, tmp_path, caplog
):
    run = _copy(runs["a"], tmp_path)
    report = os.path.join(run, "report")
    before = sorted(os.listdir(run))
    code, errors = _error(["compare", run, runs["b"], "--out", report], caplog)
    assert code == 2 and len(errors) == 1 and "is inside run folder" in errors[0]
    assert sorted(os.listdir(run)) == before and not os.path.exists(report)
    a_file = tmp_path / "a file"
    a_file.write_text("mine")
    code, errors = _error(["compare", run, runs["b"], "--out", str(a_file)], caplog)
    assert code == 2 and "is not a folder" in errors[0] and a_file.read_text() == "mine"


def test_hostile_folder_names_are_escaped_and_every_file_encodes(runs, tmp_path):
    name = os.fsdecode(b"run <script>alert(1)</script> *x* \xff\nline")
    run = _copy(runs["a"], tmp_path, name)
    written = write_compare(run, runs["b"], str(tmp_path / "out"))
    html = open(written["html"], encoding="utf-8").read()
    md = open(written["md"], encoding="utf-8").read()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>" not in md and "\\*x\\*" in md
    assert json.loads(open(written["json"], encoding="utf-8").read())["runs"]["A"]["folder"]
    assert pd.read_csv(written["runs"])["folder"][0].endswith("\\udcff\nline")
