"""The report's content as document blocks (render.py turns them into Markdown and HTML).

Determinism rule: a line that depends on a wall-clock time shows that time (pattern
fmt.TIMESTAMP_PATTERN); durations and measured speeds sit in facts or table columns that say so
(time to train / target, throughput, images/s, wall time, step ms). Two reports of runs of one
config therefore differ only there (tests/report/test_stability.py).
"""

from __future__ import annotations

import os

from resnext import paths
from resnext.report import benchmarks, fmt, tables, verdict
from resnext.report.render import Facts, Heading, Image, Link, Para, Pre, Table
from resnext.report.sections_audit import (
    audit_section,
    dataset_section,
    export_section,
    mllog_section,
)


STABILITY_NOTE = (
    "Reproducibility: between two runs of the same config only the lines showing wall-clock "
    "times (UTC), durations or measured speeds (images/s, step times) differ."
)


def build_blocks(ctx):
    """All blocks of report.md / report.html, in order."""
    blocks = [
        Heading(1, "ResNeXt benchmark report: run %s" % ctx.cfg.run_name),
        Para("Built from the result JSON files under %s (never from logs)." % ctx.results.run_dir),
        Para(STABILITY_NOTE),
        Facts([("Report generated (UTC)", fmt.utc_text(ctx.generated_utc))]),
    ]
    for part in (
        summary_section,
        repeats_section,
        verdict_section,
        accuracy_section,
        training_section,
        eval_table_section,
        export_section,
        dataset_section,
        mllog_section,
        audit_section,
    ):
        blocks.extend(part(ctx))
    return blocks


def summary_section(ctx):
    cfg, results = ctx.cfg, ctx.results
    trained = results.blocks[-1]["end_step"] if results.blocks else None
    final = results.evals[-1]
    return [
        Heading(2, "Run summary"),
        Facts(
            [
                (
                    "Architecture",
                    "%s, %dx%d input, %d classes"
                    % (cfg.arch, cfg.image_size, cfg.image_size, cfg.num_classes),
                ),
                ("Backend", cfg.backend),
                ("Devices (rank_size)", str(cfg.rank_size)),
                ("Batch", "%d per device, %d global" % (cfg.batch_size, cfg.global_batch)),
                (
                    "Precision",
                    "%s, loss scale %s" % (cfg.precision_mode, fmt.plain(cfg.loss_scale)),
                ),
                ("Epochs (configured)", fmt.plain(cfg.num_epochs)),
                (
                    "Steps",
                    "%d configured (%d per epoch), %s trained"
                    % (
                        cfg.train_steps,
                        cfg.steps_per_epoch,
                        fmt.plain(trained) if trained else fmt.MISSING,
                    ),
                ),
                (
                    "Final evaluation",
                    "step %d, epoch %s: top-1 %s%% %s, top-5 %s%% %s on %s images "
                    "(95%% Wilson intervals)"
                    % (
                        final["step"],
                        fmt.num(final["epoch"], 2),
                        fmt.pct(final["top1"]),
                        tables.interval_text(final, "top1"),
                        fmt.pct(final["top5"], 2),
                        tables.interval_text(final, "top5"),
                        final.get("num_images"),
                    ),
                ),
                ("Config sha256", cfg.sha256()),
            ]
        ),
    ]


def repeats_section(ctx):
    """A link to the repeats summary (`snakemake repeats`): always from a repeat run (repeat_of
    set: the summary is written after its report), from any other run when the summary exists."""
    cfg = ctx.cfg
    base = cfg.repeat_of or cfg.run_name
    summary = paths.summary_file(paths.repeats_dir(cfg.results_dir, base), "md")
    if not cfg.repeat_of and not os.path.isfile(summary):
        return []
    what = (
        "This run is the repeat of run %s with seed %d (repeat_seeds %s)."
        % (base, cfg.seed, list(cfg.repeat_seeds))
        if cfg.repeat_of
        else "Run %s has repeats with seeds %s." % (base, list(cfg.repeat_seeds))
    )
    href = os.path.relpath(summary, paths.report_dir(cfg.run_dir))
    return [
        Heading(2, "Repeats"),
        Para(
            what + " Their run-to-run spread (mean and sd of the "
            "final top-1/top-5 and the time to train) and the "
            "compare of each pair:"
        ),
        Link("repeats summary (%s)" % href, href),
    ]


def verdict_section(ctx):
    ref = ctx.reference
    rows = [
        [
            i.name + ("" if i.counted else " (not counted)"),
            _measured(i),
            "%s %s" % (fmt.num(i.reference, _decimals(i)), i.unit),
            _limits(i),
            i.status,
            i.reason,
        ]
        for i in ctx.items
    ]
    paper = ref["paper"]
    return [
        Heading(2, "Verdict"),
        Facts([("Overall", ctx.overall_status)]),
        Table(
            ["item", "measured (95% interval)", "reference", "PASS when", "status", "reason"], rows
        ),
        Para(
            "Rule. "
            + " ".join(
                (
                    verdict.ACCURACY_RULE,
                    verdict.THROUGHPUT_RULE,
                    verdict.OVERALL_RULE,
                    verdict.paper_note(ref),
                )
            )
        ),
        Facts(
            [
                ("Reference file", "%s (sha256 %s)" % (ctx.reference_path, ctx.reference_sha256)),
                ("Seed result", ref["accuracy"].get("source", "").strip()),
                (
                    "Paper",
                    "%s: top-1 %s%%, %s M params, %s GMAC"
                    % (
                        paper.get("source", ""),
                        fmt.num(paper["top1"], 1),
                        fmt.plain(paper.get("params_millions")),
                        fmt.plain(paper.get("gmac")),
                    ),
                ),
                (
                    "Throughput reference",
                    "%s images/s per device (%s)"
                    % (
                        fmt.num(ref["throughput"]["images_per_sec_per_device"], 1),
                        ref["throughput"].get("device", ""),
                    ),
                ),
            ]
        ),
    ]


def _decimals(item):
    return 3 if item.unit == "%" else 1


def _limits(item):
    """What the item must show to PASS: the interval inside the range, or at least the threshold."""
    if item.range is not None:
        return "interval inside [%s, %s] %s" % (
            fmt.num(item.range[0], 3),
            fmt.num(item.range[1], 3),
            item.unit,
        )
    if item.threshold is None:
        return fmt.NA
    return ">= %s %s" % (fmt.num(item.threshold, _decimals(item)), item.unit)


def _measured(item):
    if item.measured is None:
        return fmt.NA
    text = "%s %s" % (fmt.num(item.measured, _decimals(item)), item.unit)
    if item.interval is not None:
        text += " [%s, %s]" % (fmt.num(item.interval[0], 3), fmt.num(item.interval[1], 3))
    return text


def accuracy_section(ctx):
    headers = [
        "epoch",
        "step",
        "top-1 %",
        "top-1 95% interval",
        "top-5 %",
        "top-5 95% interval",
        "loss",
        "images",
        "eval images/s",
    ]
    return [
        Heading(2, "Accuracy per epoch"),
        Table(headers, tables.accuracy_rows(ctx.results.evals)),
        Image("accuracy.png", "Top-1 and top-5 validation accuracy vs epoch"),
    ]


def training_section(ctx):
    """Times, throughput per block, the throughput benchmark, loss and lr."""
    return (
        [Heading(2, "Training")]
        + training_blocks(ctx)
        + benchmarks.section(ctx)
        + metrics_blocks(ctx)
    )


def training_blocks(ctx):
    """Times and throughput per block from train/block-<b>.json."""
    if not ctx.results.blocks:
        return [Para("Training block records (train/block-<b>.json): %s." % fmt.MISSING)]
    times = ctx.audit_times
    blocks = [
        Facts(
            [
                (
                    "Time to train (sum of block wall times)",
                    fmt.duration(times["train_wall_time_s"]),
                ),
                (
                    "Training (UTC)",
                    "%s to %s"
                    % (
                        fmt.utc_text(times["train_start_utc"]),
                        fmt.utc_text(times["train_stop_utc"]),
                    ),
                ),
                ("Time to target accuracy", _target_text(ctx)),
                ("Mean throughput", _overall_text(ctx.overall)),
            ]
        )
    ]
    headers = [
        "block",
        "steps",
        "devices",
        "loops used",
        "warm-up loops",
        "images/s mean",
        "jitter (sd)",
        "images/s per device",
        "images/s whole block",
        "wall time s",
    ]
    caption = "Throughput per block: mean of the post-warm-up loops, error bar = jitter"
    return blocks + [
        Heading(3, "Throughput per block"),
        Table(headers, tables.throughput_rows(ctx.throughput)),
        Image("throughput.png", caption),
    ]


def _target_text(ctx):
    hit, target = ctx.time_to_target, ctx.target_top1
    if hit is None:
        return "not reached (target top-1 %s%%)" % fmt.num(target, 3)
    text = "top-1 %s%% >= %s%% first at step %d (epoch %s), after %s of training" % (
        fmt.pct(hit["top1"]),
        fmt.num(target, 3),
        hit["step"],
        fmt.num(hit["epoch"], 2),
        fmt.duration(hit["training_time_s"]),
    )
    if ctx.items[0].status == verdict.NOT_COMPARABLE:
        text += " (run not comparable with the reference)"
    return text


def _overall_text(overall):
    if overall is None:
        return fmt.NA
    return "%s ± %s images/s on %d device(s) = %s images/s per device (%d loops)" % (
        fmt.num(overall["images_per_sec"], 1),
        fmt.num(overall["jitter"], 1),
        overall["rank_size"],
        fmt.num(overall["images_per_sec_per_device"], 1),
        overall["loops"],
    )


def metrics_blocks(ctx):
    metrics = ctx.results.metrics
    if metrics is None:
        return [
            Heading(3, "Loss and learning rate"),
            Para("train/metrics.jsonl: %s." % fmt.MISSING),
        ]
    if not metrics:
        return [Heading(3, "Loss and learning rate"), Para("train/metrics.jsonl has no records.")]
    last = metrics[-1]
    facts = Facts(
        [
            (
                "Records",
                "%d (steps %s to %s), %d unreadable line(s) skipped"
                % (
                    len(metrics),
                    metrics[0].get("step"),
                    last.get("step"),
                    ctx.results.metrics_skipped_lines,
                ),
            ),
            (
                "Last record",
                "step %s: loss %s, total_loss %s, lr %s"
                % (
                    last.get("step"),
                    fmt.num(last.get("loss"), 3),
                    fmt.num(last.get("total_loss"), 3),
                    fmt.num(last.get("lr"), 7),
                ),
            ),
        ]
    )
    return [
        Heading(3, "Loss and learning rate"),
        facts,
        Image("loss.png", "loss and total_loss vs step (metrics.jsonl)"),
        Image("lr.png", "learning rate vs step (metrics.jsonl)"),
    ]


def eval_table_section(ctx):
    return [
        Heading(2, "Evaluation table (seed format)"),
        Para("Validation dataset size: %s" % ctx.results.evals[-1].get("num_images")),
        Pre(tables.eval_table_text(ctx.results.evals)),
    ]
