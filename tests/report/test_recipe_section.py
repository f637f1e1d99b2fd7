"""The report after config changes: records carry the digest of the keys they depend on, so an
operations key changed after the run flags nothing, an evaluation key does; the training recipe's
changes (train/recipe.json) reach audit.json and report.md."""

import glob
import json
import os

from report_fakes import write_tree
from resnext import atomic
from resnext.config import write_resolved
from resnext.report import build_report
from resnext.train import recipe

NOW = "2026-12-07T07:00:00Z"


def _stamp_records(cfg):
    """Give the fake results the stage digests real stages write (records.py, evaluate, export)."""
    for path in glob.glob(os.path.join(cfg.run_dir, "eval", "step-*.json")):
        atomic.write_json(
            path, dict(atomic.read_json(path), settings_sha256=cfg.sha256("evaluation"))
        )
    for path in glob.glob(os.path.join(cfg.train_dir, "block-*.json")):
        atomic.write_json(path, dict(atomic.read_json(path), recipe_sha256=cfg.sha256("training")))
    export = os.path.join(cfg.run_dir, "export", "export.json")
    atomic.write_json(export, dict(atomic.read_json(export), settings_sha256=cfg.sha256("export")))


def _report(cfg, out):
    write_resolved(cfg, os.path.join(cfg.run_dir, "config.resolved.yaml"))  # as resolve_config does
    written = build_report(cfg, str(out))
    with open(written["report.md"], encoding="utf-8") as f:
        return atomic.read_json(written["audit"]), f.read()


def test_an_operations_key_changed_after_the_run_flags_nothing(tmp_path):
    cfg = write_tree(tmp_path)
    _stamp_records(cfg)
    audit, md = _report(cfg.replace(rank_timeout_s=7.0, keep_checkpoint_max=2), tmp_path / "out")
    assert audit["consistency_problems"] == [], audit["consistency_problems"]
    assert "every result file carries the sha256 of the config keys it depends on" in md


def test_an_evaluation_key_changed_without_evaluating_again_is_flagged(tmp_path):
    cfg = write_tree(tmp_path)
    _stamp_records(cfg)
    audit, _ = _report(cfg.replace(eval_batch_size=7), tmp_path / "out")
    flagged = [p for p in audit["consistency_problems"] if "settings_sha256" in p]
    assert flagged and all(p.startswith(("eval/step-", "export/export.json")) for p in flagged)


def test_an_accepted_recipe_change_is_in_the_audit_and_the_report(tmp_path):
    cfg = write_tree(tmp_path)
    _stamp_records(cfg)
    first, second = cfg.block_steps[:2]
    base = recipe.fresh(cfg, None, 0, NOW)
    changed = cfg.replace(learning_rate_maximum=0.2, accept_changes=["learning_rate_maximum"])
    record = recipe.updated(
        changed,
        base,
        None,
        [("learning_rate_maximum", cfg.learning_rate_maximum, 0.2, "accepted")],
        first,
        NOW,
    )
    atomic.write_json(recipe.recipe_path(cfg), record)
    block2 = os.path.join(cfg.train_dir, "block-2.json")  # trained after the change
    atomic.write_json(
        block2, dict(atomic.read_json(block2), recipe_sha256=changed.sha256("training"))
    )
    audit, md = _report(changed, tmp_path / "out")
    assert [p for p in audit["consistency_problems"] if "block-" in p] == []
    change = audit["training_recipe"]["changes"][0]
    assert (change["step"], change["key"], change["new"], change["how"]) == (
        first,
        "learning_rate_maximum",
        0.2,
        "accepted",
    )
    assert "### Training recipe" in md and "| %d | learning_rate_maximum |" % first in md
    assert second > first


def test_a_block_trained_with_another_recipe_than_recorded_is_flagged(tmp_path):
    cfg = write_tree(tmp_path)
    _stamp_records(cfg)
    atomic.write_json(recipe.recipe_path(cfg), recipe.fresh(cfg, None, 0, NOW))
    block1 = os.path.join(cfg.train_dir, "block-1.json")
    atomic.write_json(block1, dict(atomic.read_json(block1), recipe_sha256="0" * 64))
    audit, md = _report(cfg, tmp_path / "out")
    assert any(
        p.startswith("train/block-1.json: recipe_sha256 " + "0" * 64)
        for p in audit["consistency_problems"]
    )
    assert "no training key changed during the run" in md
    assert json.dumps(audit["training_recipe"]["versions"])
