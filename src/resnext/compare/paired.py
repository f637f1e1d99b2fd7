"""Paired comparison of two evaluations on the same validation images.

Whether the images are the same: the same manifest (sha256), or, failing that, the same file names
(unique, none empty) with the same labels in both predictions files. The images are then paired
(by record id under one manifest, by file name otherwise) and each rate (top-1, top-5) is tested
with the exact McNemar test: under "no difference" the images one run gets right and the other
wrong split 50/50, so the count of one kind is Binomial(discordant, 1/2) (scipy.stats.binomtest,
two-sided). With no discordant image the two runs agree on every image and p is 1.

Each rate is tested at every step both runs evaluated, so its p-values are corrected for the number
of steps compared with Holm's step-down method (statsmodels multipletests, method "holm"): a
difference at a step is called significant when its Holm-adjusted p < ALPHA over the N steps
compared. Both the raw and the adjusted p are reported.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

ALPHA = 0.05  # the level at which a paired difference is called one


def same_data(run_a, run_b):
    """(True, how) when both runs' manifests have the same sha256, else (False, why not)."""
    a, b = run_a.manifest_sha256, run_b.manifest_sha256
    if a is not None and a == b:
        return True, "same manifest (sha256 %s)" % a
    if a is None or b is None:
        missing = [r.label for r in (run_a, run_b) if r.manifest_sha256 is None]
        return False, "no manifest in run %s" % " and ".join(missing)
    return False, "the manifests differ (sha256 %s vs %s)" % (a[:12], b[:12])


def _by_name(rows):
    """{file name: row index}, or None when a name is empty or repeated (no pairing by name)."""
    names = [str(n) for n in rows["file_name"]]
    if any(not n for n in names) or len(set(names)) != len(names):
        return None
    return {n: i for i, n in enumerate(names)}


def _order(keys_a, keys_b, what):
    """(index_a, index_b) pairing equal keys, or (None, reason)."""
    if set(keys_a) != set(keys_b):
        only_a, only_b = len(set(keys_a) - set(keys_b)), len(set(keys_b) - set(keys_a))
        return None, "different validation images: %d %s only in run A, %d only in run B" % (
            only_a,
            what,
            only_b,
        )
    names = sorted(keys_a)
    return (np.array([keys_a[n] for n in names]), np.array([keys_b[n] for n in names])), None


def pair(rows_a, rows_b, manifest_same):
    """Index arrays (ia, ib) putting the same image at the same position, or (None, reason).

    rows_*: predictions.read() dicts. Under one manifest the records pair by record id; otherwise
    by file name, which must be unique and non-empty in both files."""
    if manifest_same:
        ids_a = {str(n): i for i, n in enumerate(rows_a["record_id"])}
        ids_b = {str(n): i for i, n in enumerate(rows_b["record_id"])}
        order, reason = _order(ids_a, ids_b, "record ids")
    else:
        names_a, names_b = _by_name(rows_a), _by_name(rows_b)
        if names_a is None or names_b is None:
            return None, (
                "the manifests differ and the predictions carry no unique file name "
                "per image, so the images cannot be paired"
            )
        order, reason = _order(names_a, names_b, "file names")
    if order is None:
        return None, reason
    ia, ib = order
    wrong = int(np.count_nonzero(rows_a["label"][ia] != rows_b["label"][ib]))
    if wrong:
        return None, "%d image(s) of the same name carry different labels in the two runs" % wrong
    return (ia, ib), None


def mcnemar(correct_a, correct_b):
    """Exact McNemar test of two bool [N] arrays of per-image hits of the same images.

    -> {"both", "neither", "a_only", "b_only": counts, "p_value": two-sided exact p}."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    a_only, b_only = int(np.count_nonzero(a & ~b)), int(np.count_nonzero(~a & b))
    discordant = a_only + b_only
    # binomtest needs n >= 1; with no discordant pair every image agrees: p is 1 by definition
    p = stats.binomtest(b_only, discordant, 0.5).pvalue if discordant else 1.0
    return {
        "both": int(np.count_nonzero(a & b)),
        "neither": int(np.count_nonzero(~a & ~b)),
        "a_only": a_only,
        "b_only": b_only,
        "p_value": float(min(1.0, p)),
    }


def conclusion(test, steps):
    """The words for one McNemar result once Holm-adjusted over `steps` steps: the difference is
    called when the adjusted p ("p_holm") is below ALPHA."""
    if test["a_only"] + test["b_only"] == 0:
        return "no difference (the same images right and wrong)"
    holm = "Holm-adjusted p %.4g over %d step(s); raw p %.4g" % (
        test["p_holm"],
        steps,
        test["p_value"],
    )
    if test["p_holm"] >= ALPHA:
        return "no difference detected (%s; not < %.2g)" % (holm, ALPHA)
    return "different (%s; < %.2g)" % (holm, ALPHA)


def holm(p_values):
    """Holm-adjusted p-values of a list of raw p-values (float [N] -> float [N], same order)."""
    if not len(p_values):
        return []
    return [float(p) for p in multipletests(p_values, alpha=ALPHA, method="holm")[1]]


def adjust(step_tests):
    """Holm over the steps compared: each rate's tests (top1, top5) across `step_tests` (the
    compare_step results of every paired step) get "p_holm" and "conclusion", in place."""
    for key in ("top1", "top5"):
        tests = [t[key] for t in step_tests]
        for test, adjusted in zip(tests, holm([t["p_value"] for t in tests])):
            test["p_holm"] = adjusted
            test["conclusion"] = conclusion(test, len(tests))


def compare_step(rows_a, rows_b, order):
    """The paired tests of one step: {"top1": test, "top5": test, "identical_predictions"}
    (raw p only: adjust() adds the Holm-adjusted p and the conclusion over all the steps)."""
    ia, ib = order
    out = {
        key: mcnemar(rows_a[key + "_correct"][ia], rows_b[key + "_correct"][ib])
        for key in ("top1", "top5")
    }
    out["identical_predictions"] = bool(
        np.array_equal(rows_a["top5"][ia], rows_b["top5"][ib])
        and np.array_equal(rows_a["label_probability"][ia], rows_b["label_probability"][ib])
    )
    return out
