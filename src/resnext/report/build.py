"""build_report: results/<run>/ JSON files -> report/{eval_table.txt, report.md, report.html,
audit.json, mllog.txt, *.png}, every file written atomically."""
from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import os

from resnext import atomic, paths
from resnext.report import audit, collect, fmt, plots, render, sections, tables, verdict

log = logging.getLogger(__name__)

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@dataclasses.dataclass
class Context:
    """Everything the renderers need, computed once."""
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
    compliance: dict | None = None
    audit: dict | None = None

    @property
    def audit_times(self):
        return self.audit["times"]

    @property
    def audit_dataset(self):
        return self.audit["dataset"]


def generated_time():
    """Now in UTC, or $SOURCE_DATE_EPOCH (reproducible-builds convention) when set."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch and epoch.isdigit()
           else _dt.datetime.now(_dt.timezone.utc))
    return fmt.iso_utc(now)


def make_context(cfg, reference=None, project_dir=None):
    results = collect.collect(cfg)
    ref, ref_path = verdict.load_reference(reference, project_dir or PROJECT_DIR)
    stats = [tables.block_throughput(b) for b in results.blocks]
    overall = tables.overall_throughput(results.blocks)
    items = verdict.judge(cfg, ref, results.evals[-1], overall)
    target = ref["accuracy"]["top1"] - ref["tolerances"]["top1_tolerance"]
    ctx = Context(
        cfg=cfg, results=results, reference=ref, reference_path=ref_path,
        reference_sha256=atomic.sha256_file(ref_path), throughput=stats, overall=overall,
        items=items, overall_status=verdict.overall_status(items), target_top1=target,
        time_to_target=tables.time_to_target(results.evals, results.blocks, target),
        export_check=verdict.export_status(results.export, ref),
        git=audit.git_info(project_dir or PROJECT_DIR), generated_utc=generated_time())
    return ctx


def write_mllog(ctx, out_dir):
    """Write mllog.txt and run the compliance checker on it; None if mlperf-logging is absent."""
    try:
        from resnext.report import mllog  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        log.warning("mlperf-logging not importable (%s); mllog.txt not written", exc)
        return None
    settings = ctx.reference.get("mllog") or {}
    success = ctx.items[0].status == verdict.PASS
    path = paths.report_file(out_dir, "mllog")
    atomic.write_text(path, mllog.build_mllog(ctx.cfg, ctx.results, settings, success))
    return mllog.check_compliance(path, settings)


def build_report(cfg, out_dir=None, *, reference=None, project_dir=None):
    """Build the run's report from its result JSON files; returns {output name: path}.

    out_dir defaults to <run_dir>/report. `reference` is the reference.yaml path (default:
    $RESNEXT_REFERENCE, ./reports/reference.yaml, then <project>/reports/reference.yaml).
    `project_dir` is the git work tree recorded in the audit (default: this package's project).
    Raises collect.MissingResultsError naming the folder when there is no evaluation result.
    """
    out_dir = out_dir or paths.report_dir(cfg.run_dir)
    ctx = make_context(cfg, reference, project_dir)
    written = {"eval_table": paths.report_file(out_dir, "table"),
               "mllog": paths.report_file(out_dir, "mllog")}
    atomic.write_text(written["eval_table"], tables.eval_table_text(ctx.results.evals))
    ctx.compliance = write_mllog(ctx, out_dir)
    ctx.audit = audit.build_audit(ctx)
    comparable = ctx.items[0].status != verdict.NOT_COMPARABLE
    images = plots.make_plots(ctx.results.evals, ctx.results.metrics, ctx.throughput,
                              ctx.reference["accuracy"]["top1"] if comparable else None)
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
    ctx.audit["report_files"] = {os.path.relpath(path, out_dir): atomic.sha256_file(path)
                                 for key, path in sorted(written.items()) if key != "audit"}
    atomic.write_json(written["audit"], ctx.audit)
    log.info("report for run %s written to %s (verdict %s)", cfg.run_name, out_dir, ctx.overall_status)
    return written
