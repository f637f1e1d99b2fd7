"""The report's throughput benchmark: results of `resnext benchmark` (<run>/benchmark/*.json).

A benchmark JSON is what resnext.benchmark.run() writes: images/s as the mean over timed steps and
as total images over elapsed time, MAD jitter, step-time p50/p90/p99, warm-up steps excluded, plus
mode, data, arch, image size, batch per rank, ranks, backend, precision and the config sha256.
A result is compared with the reference's per-device figure only when it is a training benchmark
on the reference's recipe (backend, arch, image size, batch, precision);
otherwise the reason is shown.
"""

from __future__ import annotations

from resnext.report import fmt
from resnext.report.render import Facts, Heading, Para, Table
from resnext.report.verdict import recipe_differences

# reference recipe key -> benchmark JSON key, where they differ
_BENCH_KEYS = {"batch_size": "batch_size_per_rank"}
HEADERS = [
    "file",
    "mode / data",
    "ranks x batch",
    "backend / precision",
    "arch @ size",
    "steps (warm-up)",
    "images/s mean ± MAD",
    "images/s total",
    "per device",
    "step ms p50 / p90 / p99",
    "vs reference",
]


class _Fields:
    """Attribute view of a benchmark record for recipe_differences (recipe key -> JSON key)."""

    def __init__(self, data):
        self._data = data

    def __getattr__(self, key):
        return self._data.get(_BENCH_KEYS.get(key, key))


def per_device(data):
    mean, ranks = data.get("images_per_sec_mean"), data.get("rank_size") or 1
    return None if mean is None else mean / ranks


def blockers(data, ref):
    """Why this benchmark cannot be compared with the reference per-device figure
    (empty = comparable)."""
    reasons = (
        [] if data.get("mode") == "train" else ["mode is %r, reference 'train'" % data.get("mode")]
    )
    reasons += recipe_differences(_Fields(data), ref["throughput"]["recipe"])
    if per_device(data) is None:
        reasons.append("no images_per_sec_mean")
    return reasons


def ratio(data, ref):
    """Per-device images/s over the reference's, or None when not comparable."""
    if blockers(data, ref):
        return None
    return per_device(data) / float(ref["throughput"]["images_per_sec_per_device"])


def row(entry, ref):
    d = entry["data"]
    r = ratio(d, ref)
    return [
        entry["file"],
        "%s / %s" % (d.get("mode"), d.get("data")),
        "%s x %s" % (d.get("rank_size"), d.get("batch_size_per_rank")),
        "%s / %s" % (d.get("backend"), d.get("precision_mode")),
        "%s @ %s" % (d.get("arch"), d.get("image_size")),
        "%s (%s)" % (d.get("steps"), d.get("warmup_steps")),
        "%s ± %s"
        % (fmt.num(d.get("images_per_sec_mean"), 1), fmt.num(d.get("images_per_sec_mad"), 1)),
        fmt.num(d.get("images_per_sec_total"), 1),
        fmt.num(per_device(d), 1),
        " / ".join(fmt.num(d.get("step_time_ms_p%d" % p), 1) for p in (50, 90, 99)),
        "not comparable" if r is None else "%sx" % fmt.num(r, 3),
    ]


def audit_record(entry, ref, run_config_sha256):
    """The audit.json entry of one benchmark file (figures as written, plus the comparison)."""
    d = entry["data"]
    keys = (
        "mode",
        "data",
        "arch",
        "image_size",
        "batch_size_per_rank",
        "rank_size",
        "backend",
        "precision_mode",
        "steps",
        "warmup_steps",
        "images_per_sec_mean",
        "images_per_sec_total",
        "images_per_sec_mad",
        "step_time_ms_p50",
        "step_time_ms_p90",
        "step_time_ms_p99",
        "time_utc",
        "versions",
        "config_sha256",
    )
    record = {k: d.get(k) for k in keys}
    r = ratio(d, ref)
    record.update(
        file=entry["file"],
        sha256=entry["sha256"],
        images_per_sec_per_device=per_device(d),
        run_config=d.get("config_sha256") == run_config_sha256,
        reference_blockers=blockers(d, ref),
        ratio_to_reference=None if r is None else round(r, 4),
    )
    return record


def section(ctx):
    """Blocks of the 'Throughput benchmark' subsection of the training part."""
    head = Heading(3, "Throughput benchmark (resnext benchmark)")
    entries = ctx.results.benchmarks
    if not entries:
        return [
            head,
            Para(
                "benchmark/*.json: %s (run the `benchmark` target: snakemake benchmark)."
                % fmt.MISSING
            ),
        ]
    ref = ctx.reference["throughput"]
    blocks = [
        head,
        Para(
            "Warm-up steps are excluded; jitter is the median absolute deviation of the per-step "
            "images/s. All figures are for all ranks together unless marked per device."
        ),
        Table(HEADERS, [row(e, ctx.reference) for e in entries]),
        Facts(
            [
                (
                    "Reference",
                    "%s images/s per device on %s (%s)"
                    % (
                        fmt.num(ref["images_per_sec_per_device"], 1),
                        ref.get("device", ""),
                        ref.get("source", "").strip().rstrip("."),
                    ),
                )
            ]
        ),
    ]
    notes = []
    for e in entries:
        d = e["data"]
        config = (
            "this run's config"
            if d.get("config_sha256") == ctx.cfg.sha256()
            else "another config (sha256 %s)" % d.get("config_sha256")
        )
        notes.append(
            [
                e["file"],
                fmt.utc_text(d.get("time_utc")),
                config,
                "; ".join(blockers(d, ctx.reference)) or "-",
            ]
        )
    return blocks + [Table(["file", "measured (UTC)", "config", "not comparable because"], notes)]
