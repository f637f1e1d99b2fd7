"""Compare a run with the committed reference values (reports/reference.yaml).

Each item is PASS, FAIL, INCONCLUSIVE or NOT COMPARABLE. An item is compared only when the run
follows the recipe the reference was measured with; otherwise it is NOT COMPARABLE with the reason
(the differing keys), never FAIL. Accuracy items are an equivalence test (ACCURACY_RULE), the
throughput item a one-sided threshold (THROUGHPUT_RULE); OVERALL_RULE combines them.
"""

from __future__ import annotations

import dataclasses
import math
import os

import yaml

from resnext import intervals
from resnext.report.collect import ReportError

PASS, FAIL, INCONCLUSIVE, NOT_COMPARABLE = "PASS", "FAIL", "INCONCLUSIVE", "NOT COMPARABLE"
ACCURACY_RULE = (
    "Accuracy items are an equivalence test: the measured rate's 95% Wilson score interval over "
    "the validation images is set against the equivalence range reference ± tolerance. PASS when "
    "the whole interval lies inside the range, FAIL when it lies wholly outside, INCONCLUSIVE when "
    "it straddles a bound (the data cannot decide: more images would). Each side is a one-sided "
    "test at the 2.5% level (two one-sided tests)."
)
THROUGHPUT_RULE = (
    "Throughput per device PASSES at or above reference × (1 − tolerance fraction) "
    "and FAILS below it; being faster is never a failure."
)
OVERALL_RULE = (
    "Overall: FAIL if any counted item fails, else INCONCLUSIVE if any is inconclusive, "
    "else PASS if any passes, else NOT COMPARABLE."
)
_REQUIRED = {
    "accuracy": ("top1", "top5", "eval_images", "recipe"),
    "paper": ("top1",),
    "throughput": ("images_per_sec_per_device", "recipe"),
    "tolerances": ("top1_tolerance", "top5_tolerance", "throughput_tolerance_fraction"),
}
REFERENCE_ENV = "RESNEXT_REFERENCE"


def default_reference_paths(project_dir):
    """Where reference.yaml is looked for: $RESNEXT_REFERENCE, ./reports,
    then the project folder."""
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
    """One verdict line. Accuracy items carry the measured 95% `interval` and the equivalence
    `range` ([low, high], percent); the throughput item a `threshold` (its lower limit)."""

    name: str
    measured: float | None
    reference: float
    threshold: float | None
    unit: str
    status: str
    reason: str
    interval: list | None = None
    range: list | None = None
    counted: bool = True

    def as_dict(self):
        return dataclasses.asdict(self)


def _same(actual, expected):
    if isinstance(expected, list):
        return any(_same(actual, e) for e in expected)
    if (
        isinstance(actual, (int, float))
        and isinstance(expected, (int, float))
        and not isinstance(actual, bool)
    ):
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
        reasons.append(
            "evaluated on %s images, reference %s"
            % (final_eval.get("num_images"), acc["eval_images"])
        )
    if final_eval["step"] < cfg.train_steps:
        reasons.append(
            "run incomplete: last evaluated step %d of %d" % (final_eval["step"], cfg.train_steps)
        )
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


def equivalence(interval, reference, tolerance):
    """(status, reason in numbers) of the equivalence test of `interval` [low, high] against
    reference ± tolerance (all in percent); see ACCURACY_RULE."""
    low, high = interval
    lo_bound, hi_bound = reference - tolerance, reference + tolerance
    shown = "95%% interval [%.3f, %.3f] %%" % (low, high)
    limits = "range [%.3f, %.3f] %% (reference %.3f ± %.3f)" % (
        lo_bound,
        hi_bound,
        reference,
        tolerance,
    )
    if lo_bound <= low and high <= hi_bound:
        return PASS, "%s lies inside the equivalence %s" % (shown, limits)
    if high < lo_bound or low > hi_bound:
        side = "below" if high < lo_bound else "above"
        return FAIL, "%s lies wholly %s the equivalence %s" % (shown, side, limits)
    bound = lo_bound if low < lo_bound else hi_bound
    return INCONCLUSIVE, "%s straddles the bound %.3f %% of the equivalence %s" % (
        shown,
        bound,
        limits,
    )


def _accuracy_item(name, final_eval, key, reference, tolerance, blockers, counted=True):
    measured = 100.0 * final_eval[key]
    interval = intervals.rate_interval(final_eval, key)
    interval = None if interval is None else [100.0 * v for v in interval]
    item = Item(
        name,
        measured,
        reference,
        reference - tolerance,
        "%",
        NOT_COMPARABLE,
        "; ".join(blockers),
        interval=interval,
        range=[reference - tolerance, reference + tolerance],
        counted=counted,
    )
    if not blockers:
        if interval is None:
            item.reason = "no interval: num_images unknown"
        else:
            item.status, item.reason = equivalence(interval, reference, tolerance)
    return item


def judge(cfg, ref, final_eval, overall):
    """All verdict items for a run: seed top-1/top-5, paper top-1, per-device throughput."""
    tol = ref["tolerances"]
    acc_blockers = accuracy_blockers(cfg, ref, final_eval)
    seed1, seed5, paper1 = ref["accuracy"]["top1"], ref["accuracy"]["top5"], ref["paper"]["top1"]
    items = [
        _accuracy_item(
            "top-1 vs seed 8P", final_eval, "top1", seed1, tol["top1_tolerance"], acc_blockers
        ),
        _accuracy_item(
            "top-5 vs seed 8P", final_eval, "top5", seed5, tol["top5_tolerance"], acc_blockers
        ),
        _accuracy_item(
            "top-1 vs paper",
            final_eval,
            "top1",
            paper1,
            tol["top1_tolerance"],
            acc_blockers,
            counted=False,
        ),
    ]
    per_device = overall["images_per_sec_per_device"] if overall else None
    ref_ips = ref["throughput"]["images_per_sec_per_device"]
    items.append(
        _judge(
            "throughput per device",
            per_device,
            ref_ips,
            ref_ips * (1.0 - tol["throughput_tolerance_fraction"]),
            "images/s",
            throughput_blockers(cfg, ref, overall),
        )
    )
    return items


def paper_note(ref):
    """Why the paper item is not counted, in the reference's own numbers."""
    tol, seed, paper = (
        ref["tolerances"]["top1_tolerance"],
        ref["accuracy"]["top1"],
        ref["paper"]["top1"],
    )
    n = int(ref["accuracy"]["eval_images"])
    low, high = intervals.wilson(int(round(seed / 100.0 * n)), n)
    overlap, width = max(0.0, 2 * tol - abs(seed - paper)), 100.0 * (high - low)
    return (
        "The paper item is context and not counted: the paper measured another framework and "
        "evaluation, and its equivalence range overlaps the seed's in %.3f pp (references %.3f %% "
        "and %.3f %%, tolerance %.3f), while a 95%% interval over %d images near the seed's rate "
        "is %.3f pp wide%s."
        % (
            overlap,
            seed,
            paper,
            tol,
            n,
            width,
            ", so no run could pass both" if overlap < width else "",
        )
    )


def overall_status(items):
    """See OVERALL_RULE."""
    statuses = [i.status for i in items if i.counted]
    for status in (FAIL, INCONCLUSIVE, PASS):
        if status in statuses:
            return status
    return NOT_COMPARABLE


def export_status(export, ref):
    """PASS/FAIL of the frozen-graph numerical check against the tolerances, or None if absent."""
    if export is None:
        return None
    tol = ref["tolerances"]
    limits = {
        "max_abs_diff_logits": tol.get("export_max_abs_diff_logits", 1e-3),
        "max_abs_diff_probabilities": tol.get("export_max_abs_diff_probabilities", 1e-4),
    }
    bad = [k for k, limit in sorted(limits.items()) if export.get(k) is None or export[k] > limit]
    return {"status": FAIL if bad else PASS, "limits": limits, "exceeded": bad}
