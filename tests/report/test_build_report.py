"""build_report on fake results trees: outputs, formats, verdict, audit, determinism,
missing inputs."""

import base64
import hashlib
import io
import json
import os
import re
import shutil

import pytest
from PIL import Image

from report_fakes import REPORT_FILES, SKIPPED, write_tree
from resnext.report import MissingResultsError, build_report
from resnext.report.tables import EVAL_TABLE_HEADER


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_writes_every_output(demo_report):
    cfg, written = demo_report
    out = os.path.join(cfg.run_dir, "report")
    for name in REPORT_FILES:
        assert os.path.isfile(os.path.join(out, name)), name
    assert written["audit"] == os.path.join(out, "audit.json")
    assert not [n for n in os.listdir(out) if ".tmp-" in n]  # atomic writes leave no temp files


def test_eval_table_rows_sorted_in_percent(demo_report):
    cfg, written = demo_report
    lines = _read(written["eval_table"]).splitlines()
    assert (
        lines[0]
        == EVAL_TABLE_HEADER
        == "step   epoch top1   top5 loss checkpoint_time(UTC) top1_95ci top5_95ci"
    )
    steps = cfg.block_steps[:2]
    times = [
        json.loads(_read(os.path.join(cfg.run_dir, "eval", "step-%d.json" % s)))["checkpoint"][
            "time_utc"
        ]
        for s in steps
    ]
    assert times[0].endswith("Z") and "T" in times[0]
    # the seed's columns, then the Wilson intervals of 177/287 (61.611%) and 243/287 (84.63%),
    # by scipy
    assert lines[1] == "%d 2.4 61.611 84.63 2.55 %s %s %s" % (
        steps[0],
        times[0].replace("T", " ")[:-1],
        _wilson_text(177, 287, 3),
        _wilson_text(243, 287, 2),
    )
    assert lines[2].startswith(
        "%d 4.9 97.000 99.80 1.55 %s [" % (steps[1], times[1].replace("T", " ")[:-1])
    )
    for line in lines[1:]:
        assert re.fullmatch(
            r"\d+ \d+\.\d \d+\.\d{3} \d+\.\d{2} \d+\.\d{2} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
            r" \[\d+\.\d{3},\d+\.\d{3}\] \[\d+\.\d{2},\d+\.\d{2}\]",
            line,
        )
    assert len(lines) == 3


def _wilson_text(k, n, decimals):
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    return "[%.*f,%.*f]" % (decimals, 100 * ci.low, decimals, 100 * ci.high)


def test_report_md_has_verdict_manifest_and_sections(demo_report):
    _, written = demo_report
    md = _read(written["report.md"])
    assert "- **Overall**: NOT COMPARABLE" in md
    assert "image_size is 32, reference 224" in md and "num_classes is 10, reference 1001" in md
    assert "| train | 1437 | 4 | 1437 |" in md and "| validation | 287 | 2 | 287 |" in md
    assert "| %s | %s |" % (SKIPPED["path"], SKIPPED["reason"]) in md
    # which data rule chose conversion (index and converted: tests/data/test_index.py)
    assert "**Chosen by (docs/data.md, Which data a run uses)**: convert: data_url is empty" in md
    for heading in (
        "## Run summary",
        "## Verdict",
        "## Accuracy per epoch",
        "### Throughput per block",
        "## Evaluation table (seed format)",
        "## Export check",
        "## Dataset manifest",
        "## Audit record",
    ):
        assert heading in md
    assert EVAL_TABLE_HEADER in md
    assert "Time to train (sum of block wall times)" in md and "Time to target accuracy" in md


def test_audit_json_records_the_facts(demo_report):
    cfg, written = demo_report
    audit = json.loads(_read(written["audit"]))
    assert audit["config_sha256"] == cfg.sha256() == audit["resolved_config_sha256"]
    assert audit["config"] == json.loads(json.dumps(cfg.to_dict()))
    assert audit["final"]["top1"] == 0.97 and audit["final"]["step"] == cfg.block_steps[1]
    assert {"commit", "dirty", "repo"} <= set(audit["git"])
    env = audit["environment"]
    assert (
        env["versions"]["tensorflow"] == "2.21.0"
        and env["device_count"] == 1
        and env["backend"] == "cpu"
    )
    assert env["image_digest"] is None and env["hostnames"] == ["node-a"]
    assert audit["times"]["train_start_utc"] == "2026-11-29T07:00:00Z"
    manifest = os.path.join(cfg.data_dir, "manifest.json")
    with open(manifest, "rb") as f:
        assert audit["dataset"]["manifest_sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert audit["dataset"]["splits"]["validation"]["num_images"] == 287
    assert audit["dataset"]["how"] == "convert" and audit["dataset"]["rule"].startswith("convert: ")
    assert [e["step"] for e in audit["evaluations"]] == cfg.block_steps[:2]
    assert audit["export"]["check"]["status"] == "PASS"
    assert audit["verdict"]["overall"] == "NOT COMPARABLE" and audit["missing_inputs"] == {}
    assert audit["consistency_problems"] == []


def test_html_is_self_contained_with_png_figures(demo_report):
    _, written = demo_report
    page = _read(written["report.html"])
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "http://" not in page and "https://" not in page
    uris = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 4
    for data in uris:
        raw = base64.b64decode(data)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(raw)) as img:
            img.verify()
    assert "<style>" in page and "NOT COMPARABLE" in page


def test_mllog_lines_are_mllog_json(demo_report):
    cfg, written = demo_report
    records = []
    for line in _read(written["mllog"]).splitlines():
        assert line.startswith(":::MLLOG ")
        records.append(json.loads(line[len(":::MLLOG ") :]))
    evals = [r for r in records if r["key"] == "eval_accuracy"]
    assert [r["value"] for r in evals] == [0.61611, 0.97]
    assert all("epoch_num" in r["metadata"] for r in evals)
    keys = [r["key"] for r in records]
    assert (
        keys.index("init_stop") < keys.index("run_start") < keys.index("block_start")
        and keys[-1] == "run_stop"
    )
    run_start = records[keys.index("run_start")]
    assert (
        run_start["time_ms"] == 1795935600000
    )  # 2026-11-29T07:00:00Z: the first block's start, not "now"
    assert keys.count("block_start") == keys.count("block_stop") == 2


def test_reference_recipe_passes_and_fails(tmp_path):
    # 78.2% of 50,000: interval [77.836, 78.560] inside 78.197 ± 0.5; vs the paper (77.8 ± 0.5) it
    # straddles 78.3, which does not count in the overall
    cfg = write_tree(tmp_path / "ok", "reference", top1=(0.70, 0.7820), top5=(0.90, 0.9414))
    audit = json.loads(_read(build_report(cfg)["audit"]))
    assert [i["status"] for i in audit["verdict"]["items"]] == [
        "PASS",
        "PASS",
        "INCONCLUSIVE",
        "PASS",
    ]
    assert [i["counted"] for i in audit["verdict"]["items"]] == [True, True, False, True]
    assert audit["verdict"]["overall"] == "PASS" and audit["mllog"]["valid"] is True
    assert audit["training"]["time_to_target"]["step"] == 601000
    low = write_tree(tmp_path / "low", "reference", top1=(0.70, 0.760), top5=(0.90, 0.9401))
    written = build_report(low)
    items = {
        i["name"]: i["status"] for i in json.loads(_read(written["audit"]))["verdict"]["items"]
    }
    assert items == {
        "top-1 vs seed 8P": "FAIL",
        "top-5 vs seed 8P": "PASS",
        "top-1 vs paper": "FAIL",
        "throughput per device": "PASS",
    }
    md = _read(written["report.md"])
    assert "- **Overall**: FAIL" in md and "not reached (target top-1 77.697%)" in md
    assert (
        "95% interval [75.624, 76.372] % lies wholly below the equivalence range [77.697, 78.697] %"
        in md
    )
    assert '"key": "run_stop"' in _read(written["mllog"]) and '"status": "aborted"' in _read(
        written["mllog"]
    )


def test_an_interval_across_a_bound_is_inconclusive_with_the_numbers(tmp_path):
    # 78.05% of 50,000: [77.685, 78.411] straddles 77.697 = 78.197 - 0.5
    cfg = write_tree(tmp_path / "mid", "reference", top1=(0.70, 0.7805), top5=(0.90, 0.9414))
    written = build_report(cfg)
    audit = json.loads(_read(written["audit"]))
    top1 = audit["verdict"]["items"][0]
    assert top1["status"] == "INCONCLUSIVE" and audit["verdict"]["overall"] == "INCONCLUSIVE"
    assert top1["reason"].startswith("95% interval [77.685, 78.411] % straddles the bound 77.697 %")
    assert [round(v, 3) for v in top1["interval"]] == [77.685, 78.411] and top1["range"] == [
        77.697,
        78.697,
    ]
    md = _read(written["report.md"])
    assert "- **Overall**: INCONCLUSIVE" in md and "| 78.050 % [77.685, 78.411] |" in md
    assert "Rule. Accuracy items are an equivalence test" in md and "two one-sided tests" in md
    assert "no run could pass both" in md and "INCONCLUSIVE" in audit["verdict"]["rule"]
    assert '<span class="INCONCLUSIVE">INCONCLUSIVE</span>' in _read(written["report.html"])


def test_missing_eval_folder_names_the_folder(tmp_path):
    cfg = write_tree(tmp_path)
    shutil.rmtree(os.path.join(cfg.run_dir, "eval"))
    with pytest.raises(MissingResultsError) as err:
        build_report(cfg)
    assert os.path.join(cfg.run_dir, "eval") in str(err.value)


def test_missing_optional_inputs_say_missing(tmp_path):
    cfg = write_tree(tmp_path)
    for rel in ("export/export.json", "train/metrics.jsonl", "data/manifest.json"):
        os.remove(os.path.join(cfg.run_dir, rel))
    written = build_report(cfg)
    md = _read(written["report.md"])
    assert "export/export.json: missing." in md and "train/metrics.jsonl: missing." in md
    assert "data/manifest.json: missing." in md
    audit = json.loads(_read(written["audit"]))
    assert (
        audit["export"] is None and audit["dataset"] is None and audit["seeds"]["manifest"] is None
    )
    assert set(audit["missing_inputs"]) == {"export.json", "metrics.jsonl", "manifest.json"}
    # the workflow declares every plot file: a placeholder stands in for loss/lr,
    # the HTML embeds only real plots
    assert os.path.isfile(written["loss.png"]) and os.path.isfile(written["lr.png"])
    assert len(re.findall("data:image/png;base64,", _read(written["report.html"]))) == 2


def test_config_hash_mismatch_is_reported(tmp_path):
    cfg = write_tree(tmp_path)
    path = os.path.join(cfg.run_dir, "eval", "step-%d.json" % cfg.block_steps[0])
    record = json.loads(_read(path))
    record["config_sha256"] = "0" * 64
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f)
    audit = json.loads(_read(build_report(cfg, str(tmp_path / "out"))["audit"]))
    assert any("config_sha256 " + "0" * 64 in p for p in audit["consistency_problems"])
    assert os.path.isfile(str(tmp_path / "out" / "report.md"))


@pytest.mark.parametrize(
    "how, origin",
    [
        ("convert", "converted from the JPEG tree /data/tree by resnext convert"),
        ("converted", "an earlier resnext convert of /data/tree, used as it is (data_url)"),
    ],
)
def test_the_dataset_record_says_which_rule_chose_the_data(how, origin):
    """audit.dataset for a manifest of resnext convert, made in the run or found in data_url."""
    from types import SimpleNamespace

    from resnext.data import choice
    from resnext.report import audit

    results = SimpleNamespace(manifest={"source": "/data/tree", "splits": {}}, manifest_sha256="0")
    record = audit.dataset(results, how)
    assert record["origin"] == origin and record["layout"] == "tfslim"
    assert record["rule"] == "%s: %s" % (how, choice.RULE[how])
