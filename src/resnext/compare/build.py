"""compare(): two run folders -> one comparison (a JSON-ready dict), and write_compare(): that
comparison as <out>/compare.{md,html,json}, runs.csv, steps.csv and the plots, each written
atomically. Deltas and ratios are B relative to A (B - A in percentage points, B / A).
"""

from __future__ import annotations

import json
import logging
import math
import os

from resnext import atomic, paths
from resnext.compare import paired, sections
from resnext.compare.sections import text
from resnext.compare.runs import CompareError, load_run
from resnext.config import AFFECTS, OPERATIONS
from resnext.report import plots, render, tables

log = logging.getLogger(__name__)

# the environment a block or eval record states, and where: (name, getter)
_ENVIRONMENT = (
    ("backend", lambda b: b.get("backend")),
    ("precision_mode", lambda b: b.get("precision_mode")),
    ("rank_size (devices)", lambda b: b.get("rank_size")),
    ("hostnames", lambda b: ", ".join(map(str, b.get("hostnames") or [])) or None),
) + tuple(
    ("version of %s" % k, (lambda k: lambda b: (b.get("versions") or {}).get(k))(k))
    for k in ("python", "tensorflow", "numpy", "resnext", "driver")
)


def config_diff(cfg_a, cfg_b):
    """(keys that change results, operations-only keys) that differ: [{key, a, b, affects}]."""
    a, b = cfg_a.to_dict(), cfg_b.to_dict()
    results, operations = [], []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            affects = list(AFFECTS.get(key, ()))
            entry = {"key": key, "a": a.get(key), "b": b.get(key), "affects": affects}
            (operations if affects == [OPERATIONS] else results).append(entry)
    return results, operations


def environment(run):
    """{name: its value over the run's block records} ('a; b' when blocks differ), plus arch."""
    found = {"arch": sorted({text(r.get("arch")) for r in run.evals if r.get("arch")})}
    for name, get in _ENVIRONMENT:
        found[name] = sorted({text(get(b)) for b in run.blocks if get(b) is not None})
    return {k: "; ".join(v) if v else None for k, v in found.items()}


def environment_diff(env_a, env_b):
    return [
        {"field": k, "a": env_a.get(k), "b": env_b.get(k)}
        for k in sorted(env_a)
        if env_a.get(k) != env_b.get(k)
    ]


def _ratio(b, a):
    return b / a if a and b is not None and a > 0 else None


def speed(run_a, run_b):
    """Throughput (post-warm-up images/s, tables.overall_throughput), time to train and time to
    the top-1 both runs reach (the lower of their best), with B / A ratios."""
    target = 100.0 * min(max(r["top1"] for r in run.evals) for run in (run_a, run_b))
    out = {"target_top1_percent": target}
    for run in (run_a, run_b):
        overall = tables.overall_throughput(run.blocks)
        reach = tables.time_to_target(run.evals, run.blocks, target - 1e-9)
        out[run.label] = {
            "images_per_sec": overall["images_per_sec"] if overall else None,
            "time_to_train_s": tables.time_to_train(run.blocks),
            "time_to_target_s": reach["training_time_s"] if reach else None,
            "target_step": reach["step"] if reach else None,
        }
    for key in ("images_per_sec", "time_to_train_s", "time_to_target_s"):
        out[key + "_ratio"] = _ratio(out["B"][key], out["A"][key])
    return out


def _step_row(step, rec_a, rec_b, tests, reason):
    row = {
        "step": step,
        "epoch_a": rec_a["epoch"],
        "epoch_b": rec_b["epoch"],
        "num_images_a": rec_a["num_images"],
        "num_images_b": rec_b["num_images"],
    }
    for key in ("top1", "top5"):
        row.update(
            {
                key + "_a": rec_a[key],
                key + "_b": rec_b[key],
                key + "_delta_pp": 100.0 * (rec_b[key] - rec_a[key]),
            }
        )
    row["paired"] = tests  # None with the reason when the images are not the same
    row["not_paired_reason"] = reason
    return row


def steps(run_a, run_b, manifest_same):
    """One row per step both runs evaluated: rates, deltas, and the paired tests or why none."""
    rows = []
    by_step_b = {r["step"]: r for r in run_b.evals}
    for rec_a in run_a.evals:
        rec_b = by_step_b.get(rec_a["step"])
        if rec_b is None:
            continue
        tests, reason = None, None
        pa, pb = run_a.predictions(rec_a["step"]), run_b.predictions(rec_a["step"])
        if pa is None or pb is None:
            reason = "no predictions file in run %s" % ("A" if pa is None else "B")
        else:
            order, reason = paired.pair(pa, pb, manifest_same)
            tests = paired.compare_step(pa, pb, order) if order is not None else None
        rows.append(_step_row(rec_a["step"], rec_a, rec_b, tests, reason))
    paired.adjust([r["paired"] for r in rows if r["paired"]])
    return rows


def verdict(step_rows):
    """One line: what the paired tests say over the matching steps."""
    if not step_rows:
        return "not tested: the runs have no evaluated step in common"
    tested = [r for r in step_rows if r["paired"]]
    if not tested:
        return "not tested: %s" % step_rows[0]["not_paired_reason"]
    differ = [
        r["step"]
        for r in tested
        if min(r["paired"][k]["p_holm"] for k in ("top1", "top5")) < paired.ALPHA
    ]
    if not differ:
        return (
            "no difference at any of %d paired step(s) (exact McNemar, Holm-adjusted p "
            "over the steps, alpha %.2g)" % (len(tested), paired.ALPHA)
        )
    return "different at step(s) %s (exact McNemar, Holm-adjusted p < %.2g over %d step(s))" % (
        ", ".join(map(str, differ)),
        paired.ALPHA,
        len(tested),
    )


def _run_facts(run):
    return {
        "folder": text(run.folder),
        "run_name": run.cfg.run_name,
        "seed": run.cfg.seed,
        "manifest_sha256": run.manifest_sha256,
        "steps": [r["step"] for r in run.evals],
        "final_step": run.final["step"],
        "final_top1": run.final["top1"],
        "final_top5": run.final["top5"],
    }


def compare(folder_a, folder_b):
    """The comparison of run folders A and B as a JSON-ready dict (see compare.json in README)."""
    run_a, run_b = load_run(folder_a, "A"), load_run(folder_b, "B")
    results, operations = config_diff(run_a.cfg, run_b.cfg)
    env_a, env_b = environment(run_a), environment(run_b)
    same, how = paired.same_data(run_a, run_b)
    rows = steps(run_a, run_b, same)
    if not same and any(r["paired"] for r in rows):
        how = "the same images by file name (%s)" % how
    elif not same:
        reason = next((r["not_paired_reason"] for r in rows if r["not_paired_reason"]), None)
        how = "%s; %s" % (how, reason) if reason else how
    out = {
        "runs": {"A": _run_facts(run_a), "B": _run_facts(run_b)},
        "config_differs": results,
        "operations_differ": operations,
        "environment": {"A": env_a, "B": env_b, "differs": environment_diff(env_a, env_b)},
        "validation_data": {"same": same or any(r["paired"] for r in rows), "how": how},
        "steps": rows,
        "speed": speed(run_a, run_b),
        "alpha": paired.ALPHA,
    }
    out["verdict"] = verdict(rows)
    return finite(out), (run_a, run_b)


def finite(value):
    """value with every NaN or infinity as None (compare.json is strict JSON)."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_out(out_dir, folders):
    """CompareError unless out_dir is a folder (or none yet) outside every run folder: a run's
    files are the evidence (a compare's accuracy.png would replace its report's)."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise CompareError("--out %s exists and is not a folder; give a folder" % out_dir)
    out = os.path.realpath(out_dir)
    for label, folder in zip("AB", folders):
        run = os.path.realpath(folder)
        if out == run or out.startswith(run + os.sep):
            raise CompareError(
                "--out %s is inside run folder %s (run %s); give a folder outside "
                "the runs" % (out_dir, folder, label)
            )


def write_compare(folder_a, folder_b, out_dir):
    """Compare the runs and write every output into out_dir; -> {output name: path}."""
    check_out(out_dir, (folder_a, folder_b))
    result, runs = compare(folder_a, folder_b)
    images = {
        "accuracy.png": plots.accuracy_compare_plot([(r.label, r.evals) for r in runs]),
        "throughput.png": plots.throughput_compare_plot(
            [(r.label, [tables.block_throughput(b) for b in r.blocks]) for r in runs]
        ),
    }
    written = {}
    for name, data in sorted(images.items()):
        written[name] = os.path.join(out_dir, name)
        atomic.write_bytes(written[name], data)
    frames = {"runs": sections.runs_frame(result), "steps": sections.steps_frame(result)}
    for name, frame in frames.items():
        written[name] = paths.compare_file(out_dir, name)
        atomic.write_text(written[name], frame.to_csv(index=False))
    blocks = sections.blocks(result, frames)
    pages = {
        "md": render.to_markdown(blocks),
        "html": render.to_html(blocks, images, "Comparison of two resnext runs"),
        "json": json.dumps(result, indent=2, sort_keys=True, allow_nan=False) + "\n",
    }
    for name, page in pages.items():
        written[name] = paths.compare_file(out_dir, name)
        atomic.write_text(written[name], page)
    log.info("compare %s vs %s -> %s: %s", folder_a, folder_b, out_dir, result["verdict"])
    return written
