"""Malformed result JSON at report time is a ReportError naming the file (issue 12, item 13).

Before, an eval/step-<step>.json (or train/block-<b>.json) edited by hand into a list, without
`top1`, or with a string where a number belongs ended `resnext report` in a traceback (TypeError,
KeyError, AttributeError) deep in the report code. Now the report reads each record through
resnext.report.collect.check_record: exit 2, one line naming the file and the key, before any
report file is written; the record and every other file unchanged.
"""

import json
import os

import pytest

from report.report_fakes import write_tree

import hostile as H

CASES = {
    # name: (file under the run, change to its JSON, words the line must hold)
    "eval-a-list": ("eval/step-{last}.json", lambda r: [r], "it holds a list, not an object"),
    "eval-no-top1": (
        "eval/step-{last}.json",
        lambda r: {k: v for k, v in r.items() if k != "top1"},
        "key 'top1' is missing",
    ),
    "eval-top1-a-string": (
        "eval/step-{last}.json",
        lambda r: dict(r, top1="0.97"),
        "key 'top1' is a string, not a number",
    ),
    "eval-top5-a-boolean": (
        "eval/step-{last}.json",
        lambda r: dict(r, top5=True),
        "key 'top5' is a boolean, not a number",
    ),
    "eval-loss-an-object": (
        "eval/step-{last}.json",
        lambda r: dict(r, loss={"v": 1}),
        "key 'loss' is an object, not a number or null",
    ),
    "eval-checkpoint-a-string": (
        "eval/step-{last}.json",
        lambda r: dict(r, checkpoint="x"),
        "key 'checkpoint' is a string, not an object",
    ),
    "eval-just-a-number": ("eval/step-{last}.json", lambda r: 0.97, "it holds a number"),
    "block-no-start": (
        "train/block-1.json",
        lambda r: {k: v for k, v in r.items() if k != "start_step"},
        "key 'start_step' is missing",
    ),
    "block-loops-a-string": (
        "train/block-1.json",
        lambda r: dict(r, loops="fast"),
        "key 'loops' is a string, not a list",
    ),
    "export-a-list": ("export/export.json", lambda r: [r], "it holds a list, not an object"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_result_is_refused_naming_the_file_and_key(case, tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("RESNEXT_REFERENCE", raising=False)
    monkeypatch.delenv("RESNEXT_IMAGE_DIGEST", raising=False)
    monkeypatch.chdir(tmp_path)
    cfg = write_tree(tmp_path)
    name, change, words = CASES[case]
    last = max(int(n[5:-5]) for n in os.listdir(os.path.join(cfg.run_dir, "eval")))
    victim = os.path.join(cfg.run_dir, name.format(last=last))
    with open(victim, encoding="utf-8") as f:
        record = json.load(f)
    with open(victim, "w", encoding="utf-8") as f:
        json.dump(change(record), f)
    config = H.write_yaml(tmp_path / "config.yaml", cfg.to_dict())
    before, sha = H.tree(tmp_path), H.sha256(victim)
    line, text = H.refused(["report", "--config", config], caplog)
    assert victim in line and words in line, line
    assert H.sha256(victim) == sha and H.tree(tmp_path) == before  # no report file, nothing else
    assert not os.path.exists(os.path.join(cfg.run_dir, "report"))


def test_an_intact_tree_still_reports(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("RESNEXT_REFERENCE", raising=False)
    monkeypatch.delenv("RESNEXT_IMAGE_DIGEST", raising=False)
    monkeypatch.chdir(tmp_path)
    cfg = write_tree(tmp_path)
    config = H.write_yaml(tmp_path / "config.yaml", cfg.to_dict())
    code, text = H.main(["report", "--config", config], caplog)
    assert code == 0, text
