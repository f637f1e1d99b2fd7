"""build_report: results/<run>/ JSON files -> report/{eval_table.txt, report.md, report.html,
audit.json, mllog.txt, *.png} and <run>/ro-crate-metadata.json (report.crate), every file written
atomically."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import logging
import os

from resnext import atomic, paths
from resnext.report import audit, collect, crate, fmt, plots, render, sections, tables, verdict

log = logging.getLogger(__name__)

PROJECT_DIR = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)


@dataclasses.dataclass(frozen=True)
class Context:
    """Everything the renderers need, computed once (make_context); read-only."""

    cfg: object
    results: collect.Results
    reference: dict
    reference_path: str
    reference_sha256: str
    throughput: list
    overall: dict | None
    items: list
    overall_status: str
    target_top1: float
    time_to_target: dict | None
    export_check: dict | None
    git: dict
    generated_utc: str
    compliance: dict | None  # mllog.check_compliance of the mllog.txt written; None: not written

    @functools.cached_property
    def audit(self):
        """The audit.json document (audit.build_audit), derived from the fields above on first use;
        without its report_files, which only the finished report has."""
        return audit.build_audit(self)

    @property
    def audit_times(self):
        return self.audit["times"]

    @property
    def audit_dataset(self):
        return self.audit["dataset"]


def generated_time():
    """Now in UTC, or $SOURCE_DATE_EPOCH (reproducible-builds convention) when set."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = (
        _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)
        if epoch and epoch.isdigit()
        else _dt.datetime.now(_dt.timezone.utc)
    )
    return fmt.iso_utc(now)


def make_context(cfg, results, out_dir, reference=None, project_dir=None):
    """The report's Context of `results` (collect.Results); writes <out_dir>/mllog.txt on the way,
    since the context holds its compliance check."""
    ref, ref_path = verdict.load_reference(reference, project_dir or PROJECT_DIR)
    overall = tables.overall_throughput(results.blocks)
    items = verdict.judge(cfg, ref, results.evals[-1], overall)
    target = ref["accuracy"]["top1"] - ref["tolerances"]["top1_tolerance"]
    return Context(
        cfg=cfg,
        results=results,
        reference=ref,
        reference_path=ref_path,
        reference_sha256=atomic.sha256_file(ref_path),
        throughput=[tables.block_throughput(b) for b in results.blocks],
        overall=overall,
        items=items,
        overall_status=verdict.overall_status(items),
        target_top1=target,
        time_to_target=tables.time_to_target(results.evals, results.blocks, target),
        export_check=verdict.export_status(results.export, ref),
        git=audit.git_info(project_dir or PROJECT_DIR),
        generated_utc=generated_time(),
        compliance=write_mllog(cfg, results, ref, items, out_dir),
    )


def write_mllog(cfg, results, reference, items, out_dir):
    """Write mllog.txt and run the compliance checker on it; None if mlperf-logging is absent."""
    try:
        from resnext.report import mllog  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        log.warning("mlperf-logging not importable (%s); mllog.txt not written", exc)
        return None
    settings = reference.get("mllog") or {}
    success = items[0].status == verdict.PASS
    path = paths.report_file(out_dir, "mllog")
    atomic.write_text(path, mllog.build_mllog(cfg, results, settings, success))
    return mllog.check_compliance(path, settings)


def build_report(cfg, out_dir=None, *, reference=None, project_dir=None):
    """Build the run's report from its result JSON files; returns {output name: path}.

    out_dir defaults to <run_dir>/report. `reference` is the reference.yaml path (default:
    $RESNEXT_REFERENCE, ./reports/reference.yaml, then <project>/reports/reference.yaml).
    `project_dir` is the git work tree recorded in the audit (default: this package's project).
    Raises collect.MissingResultsError naming the folder when there is no evaluation result.
    """
    out_dir = out_dir or paths.report_dir(cfg.run_dir)
    results = collect.collect(cfg)
    written = {
        "eval_table": paths.report_file(out_dir, "table"),
        "mllog": paths.report_file(out_dir, "mllog"),
    }
    atomic.write_text(written["eval_table"], tables.eval_table_text(results.evals))
    ctx = make_context(cfg, results, out_dir, reference, project_dir)
    comparable = ctx.items[0].status != verdict.NOT_COMPARABLE
    images = plots.make_plots(
        ctx.results.evals,
        ctx.results.metrics,
        ctx.throughput,
        ctx.reference["accuracy"]["top1"] if comparable else None,
    )
    for name, data in sorted(plots.with_placeholders(images).items()):
        written[name] = os.path.join(out_dir, name)
        atomic.write_bytes(written[name], data)
    blocks = sections.build_blocks(ctx)
    title = "ResNeXt benchmark report: %s" % cfg.run_name
    pages = (("md", render.to_markdown(blocks)), ("html", render.to_html(blocks, images, title)))
    for key, text in pages:
        written[paths.REPORT_FILES[key]] = paths.report_file(out_dir, key)
        atomic.write_text(written[paths.REPORT_FILES[key]], text)
    written["audit"] = paths.report_file(out_dir, "audit")
    if ctx.compliance is None:
        written.pop("mllog")
    # what `resnext verify` checks the report against: written last, so every other file is final
    report_files = {
        os.path.relpath(path, out_dir): atomic.sha256_file(path)
        for key, path in sorted(written.items())
        if key != "audit"
    }
    atomic.write_json(written["audit"], dict(ctx.audit, report_files=report_files))
    # the crate names every report file with its sha256, audit.json's too: written after it; a
    # report written elsewhere (--out-dir) is no part of the run, so the run's crate is left alone
    if os.path.abspath(out_dir) == os.path.abspath(paths.report_dir(cfg.run_dir)):
        hashes = dict(
            report_files, **{paths.REPORT_FILES["audit"]: atomic.sha256_file(written["audit"])}
        )
        written["crate"] = crate.write_crate(ctx, hashes, project_dir or PROJECT_DIR)
    log.info(
        "report for run %s written to %s (verdict %s)", cfg.run_name, out_dir, ctx.overall_status
    )
    return written
