"""Compare a run with the committed reference values (reports/reference.yaml).

Each item is PASS, FAIL or NOT COMPARABLE. An item is compared only when the run follows the
recipe the reference was measured with; otherwise it is NOT COMPARABLE with the reason (the
differing keys), never FAIL.
"""
from __future__ import annotations

import dataclasses
import math
import os

import yaml

from resnext.report.collect import ReportError

PASS, FAIL, NOT_COMPARABLE = "PASS", "FAIL", "NOT COMPARABLE"
_REQUIRED = {
    "accuracy": ("top1", "top5", "eval_images", "recipe"),
    "paper": ("top1",),
    "throughput": ("images_per_sec_per_device", "recipe"),
    "tolerances": ("top1_tolerance", "top5_tolerance", "throughput_tolerance_fraction"),
}
REFERENCE_ENV = "RESNEXT_REFERENCE"


def default_reference_paths(project_dir):
    """Where reference.yaml is looked for: $RESNEXT_REFERENCE, ./reports, then the project folder."""
    paths = [os.environ.get(REFERENCE_ENV), os.path.join("reports", "reference.yaml")]
    if project_dir:
        paths.append(os.path.join(project_dir, "reports", "reference.yaml"))
    return [p for p in paths if p]


def load_reference(path=None, project_dir=None):
    """Read and check the reference file; returns (dict, path used)."""
    candidates = [path] if path else default_reference_paths(project_dir)
    found = next((p for p in candidates if os.path.isfile(p)), None)
    if found is None:
        raise ReportError("reference values not found; looked for %s" % ", ".join(candidates))
    with open(found, encoding="utf-8") as f:
        ref = yaml.safe_load(f) or {}
    for section, keys in _REQUIRED.items():
        for key in keys:
            if key not in (ref.get(section) or {}):
                raise ReportError("%s: missing key %s.%s" % (found, section, key))
    return ref, found


@dataclasses.dataclass
class Item:
    name: str
    measured: float | None
    reference: float
    threshold: float | None
    unit: str
    status: str
    reason: str

    def as_dict(self):
        return dataclasses.asdict(self)


def _same(actual, expected):
    if isinstance(expected, list):
        return any(_same(actual, e) for e in expected)
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)) and not isinstance(actual, bool):
        return math.isclose(float(actual), float(expected), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(actual, tuple):
        actual = list(actual)
    return actual == expected


def recipe_differences(cfg, recipe):
    """Readable list of the config keys (or derived values) that differ from `recipe`."""
    diffs = []
    for key in sorted(recipe):
        expected = recipe[key]
        actual = getattr(cfg, key, None)
        if not _same(actual, expected):
            diffs.append("%s is %r, reference %r" % (key, actual, expected))
    return diffs


def accuracy_blockers(cfg, ref, final_eval):
    """Why the run's final accuracy cannot be compared with the reference (empty = comparable)."""
    acc = ref["accuracy"]
    reasons = recipe_differences(cfg, acc["recipe"])
    if final_eval.get("num_images") != acc["eval_images"]:
        reasons.append("evaluated on %s images, reference %s" % (final_eval.get("num_images"), acc["eval_images"]))
    if final_eval["step"] < cfg.train_steps:
        reasons.append("run incomplete: last evaluated step %d of %d" % (final_eval["step"], cfg.train_steps))
    return reasons


def throughput_blockers(cfg, ref, overall):
    reasons = recipe_differences(cfg, ref["throughput"]["recipe"])
    if overall is None:
        reasons.append("no training block records with per-loop throughput")
    return reasons


def _judge(name, measured, reference, threshold, unit, blockers):
    if blockers:
        return Item(name, measured, reference, threshold, unit, NOT_COMPARABLE, "; ".join(blockers))
    ok = measured is not None and measured >= threshold
    reason = "measured %.3f %s threshold %.3f" % (measured, ">=" if ok else "<", threshold)
    return Item(name, measured, reference, threshold, unit, PASS if ok else FAIL, reason)


def judge(cfg, ref, final_eval, overall):
    """All verdict items for a run: seed top-1/top-5, paper top-1, per-device throughput."""
    tol = ref["tolerances"]
    acc_blockers = accuracy_blockers(cfg, ref, final_eval)
    top1, top5 = 100.0 * final_eval["top1"], 100.0 * final_eval["top5"]
    seed1, seed5, paper1 = ref["accuracy"]["top1"], ref["accuracy"]["top5"], ref["paper"]["top1"]
    items = [
        _judge("top-1 vs seed 8P", top1, seed1, seed1 - tol["top1_tolerance"], "%", acc_blockers),
        _judge("top-5 vs seed 8P", top5, seed5, seed5 - tol["top5_tolerance"], "%", acc_blockers),
        _judge("top-1 vs paper", top1, paper1, paper1 - tol["top1_tolerance"], "%", acc_blockers),
    ]
    per_device = overall["images_per_sec_per_device"] if overall else None
    ref_ips = ref["throughput"]["images_per_sec_per_device"]
    items.append(_judge("throughput per device", per_device, ref_ips,
                        ref_ips * (1.0 - tol["throughput_tolerance_fraction"]), "images/s",
                        throughput_blockers(cfg, ref, overall)))
    return items


def overall_status(items):
    statuses = [i.status for i in items]
    if FAIL in statuses:
        return FAIL
    if PASS in statuses:
        return PASS
    return NOT_COMPARABLE


def export_status(export, ref):
    """PASS/FAIL of the frozen-graph numerical check against the tolerances, or None if absent."""
    if export is None:
        return None
    tol = ref["tolerances"]
    limits = {"max_abs_diff_logits": tol.get("export_max_abs_diff_logits", 1e-3),
              "max_abs_diff_probabilities": tol.get("export_max_abs_diff_probabilities", 1e-4)}
    bad = [k for k, limit in sorted(limits.items()) if export.get(k) is None or export[k] > limit]
    return {"status": FAIL if bad else PASS, "limits": limits, "exceeded": bad}
