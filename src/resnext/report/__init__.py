"""Results -> report: report.md, report.html (self-contained), audit.json, eval_table.txt,
mllog.txt.

Host-only (modern Python); reads the run's JSON result files only, never logs, and never
imports TensorFlow. Entry point: `build_report(cfg)`.
"""

from resnext.report.build import build_report
from resnext.report.collect import MissingResultsError, ReportError

__all__ = ["build_report", "MissingResultsError", "ReportError"]
