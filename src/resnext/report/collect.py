"""Load one run's result JSON files (never logs) into a `Results` record.

Only the evaluation results are mandatory; every other input may be missing, in which case
its field is None and its path is listed in `Results.missing`. Checks that the files belong
together (each carries the sha256 of the config keys it depends on: a block the recipe version it
was trained with, an evaluation or export the current evaluation / export keys; file name matching
content) are collected in `Results.problems`.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
import re

from resnext import atomic, paths
from resnext.data import choice
from resnext.train import recipe as recipes
from resnext.train import records

log = logging.getLogger(__name__)


class ReportError(Exception):
    """The results cannot be turned into a report; the message names the file or folder."""


class MissingResultsError(ReportError, FileNotFoundError):
    """A mandatory input (the evaluation results) is absent."""


@dataclasses.dataclass
class Results:
    run_dir: str
    evals: list
    blocks: list
    metrics: list | None
    metrics_skipped_lines: int
    manifest: dict | None
    manifest_sha256: str | None
    export: dict | None
    benchmarks: list
    resolved_config_sha256: str | None
    missing: dict
    problems: list
    data_checks: list = dataclasses.field(default_factory=list)  # train/data-checks.jsonl
    recipe: dict | None = None


def _numbered(folder, pattern, regex):
    """Files in `folder` matching the glob, as (number, path) sorted by the number in the name."""
    found = []
    for path in glob.glob(os.path.join(folder, pattern)):
        match = re.fullmatch(regex, os.path.basename(path))
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


# what the report reads of a record by key: {key: (JSON type name, accepted types, may be null)}
_NUMBER = ("a number", (int, float), False)
EVAL_FIELDS = {
    "step": ("an integer", (int,), False),
    "epoch": _NUMBER,
    "top1": _NUMBER,
    "top5": _NUMBER,
    "loss": ("a number or null", (int, float), True),
}  # null: evaluate's NaN warning
EVAL_OPTIONAL = {
    "num_images": ("an integer", (int,), True),
    "checkpoint": ("an object", (dict,), True),
    "top1_ci95": ("a list", (list,), True),
    "top5_ci95": ("a list", (list,), True),
    "warnings": ("a list", (list,), True),
}
BLOCK_FIELDS = {
    "start_step": ("an integer", (int,), False),
    "end_step": ("an integer", (int,), False),
}
BLOCK_OPTIONAL = {
    "images_per_sec": ("a number", (int, float), True),
    "wall_time_s": ("a number", (int, float), True),
    "loops": ("a list", (list,), True),
}
RERUN = {
    "evaluation result": "run `resnext evaluate` for that checkpoint again (or move the file "
    "aside)",
    "training block record": "move it aside: `resnext train` rebuilds it from metrics.jsonl",
}


def _type_name(value):
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), "a number")


def check_record(path, record, what, required=None, optional=None):
    """`record`, or ReportError naming `path` and the first key the report cannot read: the file
    must hold an object; each `required` key must be there with its type, each `optional` one
    may be absent. A boolean is no number (JSON has both)."""
    todo = RERUN.get(what, "restore it or move it aside")
    if not isinstance(record, dict):
        raise ReportError(
            "%s is not a %s: it holds %s, not an object; %s"
            % (path, what, _type_name(record), todo)
        )
    for fields, needed in ((required or {}, True), (optional or {}, False)):
        for key, (name, types, nullable) in sorted(fields.items()):
            if key not in record:
                if needed:
                    raise ReportError(
                        "%s: key %r is missing (a %s has it); %s" % (path, key, what, todo)
                    )
                continue
            value = record[key]
            if (value is None and nullable) or (
                isinstance(value, types) and not isinstance(value, bool)
            ):
                continue
            raise ReportError(
                "%s: key %r is %s, not %s; %s" % (path, key, _type_name(value), name, todo)
            )
    return record


def _read(path, what):
    try:
        record = atomic.read_json(path)
    except (OSError, ValueError) as exc:
        raise ReportError("cannot read %s %s: %s" % (what, path, exc)) from exc
    return check_record(path, record, what)


def _load_numbered(pattern, field, what, problems, fields=((), ())):
    """Every JSON file named like `pattern` (a resnext.paths name with "*" for its number), each
    checked against `fields` (required, optional: check_record); a record whose `field` differs
    from the number in its name is kept and listed in `problems`."""
    head, tail = os.path.basename(pattern).split("*")
    files = _numbered(
        os.path.dirname(pattern),
        os.path.basename(pattern),
        re.escape(head) + r"(\d+)" + re.escape(tail),
    )
    records = []
    for number, path in files:
        record = check_record(path, _read(path, what), what, *fields)
        if record.get(field) != number:
            problems.append(
                "%s: file name says %s %d, content says %r"
                % (path, field, number, record.get(field))
            )
        records.append(record)
    return records


def load_evals(run_dir, problems):
    evals = _load_numbered(
        paths.eval_json(run_dir, "*"),
        "step",
        "evaluation result",
        problems,
        (EVAL_FIELDS, EVAL_OPTIONAL),
    )
    for record in evals:  # non-finite numbers, written as null by atomic.json_text
        for warning in record.get("warnings") or []:
            problems.append(
                "eval/step-%s.json: %s (written as null: the checkpoint's outputs are "
                "not finite numbers; this evaluation is not a result)" % (record["step"], warning)
            )
    if not evals:
        raise MissingResultsError(
            "no evaluation results (eval/step-<step>.json) in %s: run the evaluate stage first"
            % paths.eval_dir(run_dir)
        )
    return sorted(evals, key=lambda r: r["step"])


def load_blocks(run_dir, problems):
    blocks = _load_numbered(
        paths.block_record(paths.train_dir(run_dir), "*"),
        "block",
        "training block record",
        problems,
        (BLOCK_FIELDS, BLOCK_OPTIONAL),
    )
    return sorted(blocks, key=lambda r: r["start_step"])


def load_metrics(path):
    """metrics.jsonl -> (records sorted by step, count of unreadable lines), or
    (None, 0) if absent."""
    if not os.path.isfile(path):
        return None, 0
    records, skipped = [], 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                skipped += 1
                log.warning("%s:%d is not valid JSON; skipped", path, number)
    return sorted(records, key=lambda r: r.get("step", 0)), skipped


def _optional_json(path, missing, name):
    if os.path.isfile(path):
        return _read(path, name)
    missing[name] = path
    log.warning("%s not found (%s); its report section will say 'missing'", name, path)
    return None


def load_benchmarks(run_dir):
    found = []
    for path in sorted(glob.glob(os.path.join(paths.benchmark_dir(run_dir), "*.json"))):
        found.append(
            {
                "file": os.path.basename(path),
                "sha256": atomic.sha256_file(path),
                "data": _read(path, "benchmark result"),
            }
        )
    return found


def _resolved_config_sha(cfg, missing, problems):
    path = paths.resolved_config(cfg.run_dir)
    if not os.path.isfile(path):
        missing["config.resolved.yaml"] = path
        return None
    from resnext.config import ConfigError, is_resolved, load_config, load_resolved  # noqa: PLC0415

    try:
        sha = (load_resolved(path) if is_resolved(path) else load_config([path])).sha256()
    except ConfigError as exc:
        problems.append("%s cannot be loaded as a config: %s" % (path, exc))
        return None
    if sha != cfg.sha256():
        problems.append(
            "%s has sha256 %s but the report's config has %s" % (path, sha, cfg.sha256())
        )
    return sha


def _expected_digest(cfg, recipe, kind, record):
    """(field, sha256) a result record must carry: the digest of the keys it depends on (for a
    block, the recipe version in force for it), or the whole config's for records written before
    those fields existed."""
    field = {"block": "recipe_sha256"}.get(kind, "settings_sha256")
    if field not in record:
        return "config_sha256", cfg.sha256()
    if kind == "block":
        version = recipes.version_at(recipe, record.get("end_step") or 0) if recipe else None
        return field, version["keys_sha256"] if version else cfg.sha256("training")
    return field, cfg.sha256(kind)


def _recipe(cfg, problems):
    """train/recipe.json (resnext.train.recipe), None when absent or damaged (a problem then)."""
    from resnext.config import ConfigError  # noqa: PLC0415 - as in _resolved_config_sha

    try:
        return recipes.read(cfg)
    except ConfigError as exc:
        problems.append(str(exc))
        return None


def _check_config_hashes(cfg, results, recipe):
    named = [("eval/step-%s.json" % r.get("step"), "evaluation", r) for r in results.evals]
    named += [("train/block-%s.json" % r.get("block"), "block", r) for r in results.blocks]
    if results.export is not None:
        named.append(("export/export.json", "export", results.export))
    for name, kind, record in named:
        field, expected = _expected_digest(cfg, recipe, kind, record)
        if record.get(field) != expected:
            results.problems.append(
                "%s: %s %s differs from the run config's %s"
                % (name, field, record.get(field), expected)
            )


def collect(cfg):
    """Read everything the report needs from cfg.run_dir;
    raises MissingResultsError without evals."""
    run_dir, missing, problems = cfg.run_dir, {}, []
    evals = load_evals(run_dir, problems)
    blocks = load_blocks(run_dir, problems)
    if not blocks:
        missing["train/block-*.json"] = paths.block_record(cfg.train_dir, "<b>")
    metrics_path = paths.metrics(cfg.train_dir)
    metrics, skipped = load_metrics(metrics_path)
    data_checks = [
        r for r in records.read_jsonl(paths.data_checks(cfg.train_dir)) if isinstance(r, dict)
    ]
    if metrics is None:
        missing["metrics.jsonl"] = metrics_path
    manifest_path = choice.manifest_path(cfg)
    manifest = _optional_json(manifest_path, missing, "manifest.json")
    export = _optional_json(paths.export_record(paths.export_dir(run_dir)), missing, "export.json")
    results = Results(
        run_dir=run_dir,
        evals=evals,
        blocks=blocks,
        metrics=metrics,
        metrics_skipped_lines=skipped,
        manifest=manifest,
        manifest_sha256=atomic.sha256_file(manifest_path) if manifest is not None else None,
        export=export,
        benchmarks=load_benchmarks(run_dir),
        resolved_config_sha256=_resolved_config_sha(cfg, missing, problems),
        missing=missing,
        problems=problems,
        data_checks=data_checks,
        recipe=_recipe(cfg, problems),
    )
    _check_config_hashes(cfg, results, results.recipe)
    for problem in results.problems:
        log.warning("results consistency: %s", problem)
    return results
