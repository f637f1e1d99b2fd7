"""The repeats summary (`snakemake repeats`, `resnext repeats`): the runs of one config with
different seeds -> <run_name>-repeats/summary.{md,json,csv}.

summary.csv holds one row per run (final top-1/top-5 as fractions, time to train in s, post-warm-up
images/s), then a row "mean" and a row "sd" (the sample standard deviation, n - 1) of each. The
pairs' compare.json (written by `resnext compare`) give each pair's verdict and final-step deltas.
"""

from __future__ import annotations

import json
import logging
import os

import pandas as pd

from resnext import atomic, paths
from resnext.compare import runs as runs_mod
from resnext.compare.build import finite
from resnext.compare.sections import text
from resnext.report import fmt, render, tables
from resnext.report.render import Facts, Heading, Link, Para, Table

log = logging.getLogger(__name__)

STATS = ("top1", "top5", "time_to_train_s", "images_per_sec")


def run_row(run):
    """One run's row of the summary table."""
    overall = tables.overall_throughput(run.blocks)
    return {
        "run": run.cfg.run_name,
        "seed": run.cfg.seed,
        "final_step": run.final["step"],
        "top1": run.final["top1"],
        "top5": run.final["top5"],
        "time_to_train_s": tables.time_to_train(run.blocks),
        "images_per_sec": overall["images_per_sec"] if overall else None,
    }


def spread(frame):
    """{column: {"mean", "sd", "n"}} over the runs of `frame` (pandas: sd with n - 1, None for
    one run)."""
    out = {}
    for column in STATS:
        values = pd.to_numeric(frame[column], errors="coerce").dropna()
        sd = values.std(ddof=1) if len(values) > 1 else None
        out[column] = {
            "mean": float(values.mean()) if len(values) else None,
            "sd": None if sd is None else float(sd),
            "n": int(len(values)),
        }
    return out


def _pair(folder):
    path = paths.compare_file(folder, "json")
    try:
        result = atomic.read_json(path)
        final = result["steps"][-1] if result["steps"] else None
        return {
            "a": result["runs"]["A"]["run_name"],
            "b": result["runs"]["B"]["run_name"],
            "verdict": result["verdict"],
            "compare": folder,
            "same_validation_data": result["validation_data"]["same"],
            "final_step": final and final["step"],
            "top1_delta_pp": final and final["top1_delta_pp"],
            "top1_p_value": final and (final["paired"] or {}).get("top1", {}).get("p_value"),
            "top1_p_holm": final and (final["paired"] or {}).get("top1", {}).get("p_holm"),
            "top5_delta_pp": final and final["top5_delta_pp"],
        }
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise runs_mod.CompareError(
            "%s cannot be read as a compare result (%s); run `resnext "
            "compare` on that pair again" % (path, exc)
        ) from exc


def summarize(run_dirs, compare_dirs):
    """(summary dict, runs DataFrame with the mean and sd rows) of the repeats in run_dirs."""
    loaded = [runs_mod.load_run(folder, "s%d" % i) for i, folder in enumerate(run_dirs)]
    frame = pd.DataFrame([run_row(r) for r in loaded])
    stats = spread(frame)
    rows = [dict(run=name, **{c: stats[c][name] for c in STATS}) for name in ("mean", "sd")]
    # the mean and sd rows have no seed or step: nullable integers keep the others whole numbers
    table = pd.concat([frame, pd.DataFrame(rows)], ignore_index=True).astype(
        {"seed": "Int64", "final_step": "Int64"}
    )
    summary = {
        "runs": frame.to_dict(orient="records"),
        "spread": stats,
        "pairs": [_pair(folder) for folder in compare_dirs],
        "seeds": [r.cfg.seed for r in loaded],
    }
    return finite(json.loads(json.dumps(summary, default=_plain))), table


def _plain(value):
    """numpy scalars in pandas records -> Python numbers for JSON."""
    return value.item() if hasattr(value, "item") else text(value)


def _blocks(summary, out_dir):
    spread_rows = [
        [name, fmt.num(s["mean"], 4), fmt.num(s["sd"], 4), str(s["n"])]
        for name, s in summary["spread"].items()
    ]
    run_rows = [
        [
            text(r["run"]),
            str(r["seed"]),
            str(r["final_step"]),
            fmt.pct(r["top1"]),
            fmt.pct(r["top5"]),
            fmt.num(r["time_to_train_s"], 1),
            fmt.num(r["images_per_sec"], 1),
        ]
        for r in summary["runs"]
    ]
    out = [
        Heading(1, "Repeats: the same config with seeds %s" % summary["seeds"]),
        Para(
            "The run-to-run spread of one config: a difference between two runs smaller than "
            "this is noise. sd is the sample standard deviation (n - 1)."
        ),
        Heading(2, "Spread (mean, sd over the runs)"),
        Table(["quantity", "mean", "sd", "runs"], spread_rows),
        Heading(2, "Runs"),
        Table(
            [
                "run",
                "seed",
                "final step",
                "top-1 (%)",
                "top-5 (%)",
                "time to train (s)",
                "images/s",
            ],
            run_rows,
        ),
        Heading(2, "Pairs (resnext compare, exact McNemar per step)"),
    ]
    for p in summary["pairs"]:
        out.append(
            Facts(
                [
                    ("%s vs %s" % (p["a"], p["b"]), p["verdict"]),
                    (
                        "final step %s" % p["final_step"],
                        "top-1 delta %s pp (p %s, Holm p %s), top-5 delta %s pp"
                        % (
                            fmt.num(p["top1_delta_pp"], 3),
                            fmt.num(p["top1_p_value"], 4),
                            fmt.num(p["top1_p_holm"], 4),
                            fmt.num(p["top5_delta_pp"], 3),
                        ),
                    ),
                ]
            )
        )
        href = os.path.relpath(paths.compare_file(p["compare"], "md"), out_dir)
        out.append(Link("compare %s vs %s (%s)" % (p["a"], p["b"], href), href))
    return out


def write_summary(run_dirs, compare_dirs, out_dir):
    """Write summary.{md,json,csv} into out_dir (atomically); -> {output name: path}."""
    summary, table = summarize(run_dirs, compare_dirs)
    written = {name: paths.summary_file(out_dir, name) for name in paths.SUMMARY_FILES}
    atomic.write_text(written["csv"], table.to_csv(index=False))
    atomic.write_text(
        written["json"], json.dumps(summary, indent=2, sort_keys=True, allow_nan=False) + "\n"
    )
    atomic.write_text(written["md"], render.to_markdown(_blocks(summary, out_dir)))
    log.info("repeats summary of %d runs -> %s", len(run_dirs), out_dir)
    return written
