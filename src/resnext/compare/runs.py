"""One run folder as `resnext compare` reads it: its resolved config, evaluation records, block
records, manifest and per-image predictions, every path relative to the folder given (a moved or
received run compares the same). Anything missing or damaged that the comparison needs raises
CompareError with one line naming the file and what to do. Host only (Python >= 3.11).
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import re

from resnext import atomic, paths, predictions
from resnext.config import ConfigError, load_resolved
from resnext.data import choice
from resnext.report import collect


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class CompareError(ValueError):
    """Two runs cannot be compared; the message names the file or folder and what to do.

    On one line whatever the names hold: a control character (a newline in a folder name) is
    shown as its escape, a lone surrogate (a non-UTF-8 name) as a backslash escape."""

    def __init__(self, message):
        shown = _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(message))
        super().__init__(shown.encode("utf-8", "backslashreplace").decode("utf-8"))


@dataclasses.dataclass
class Run:
    """A run folder's records. evals sorted by step, blocks by start_step (dicts as on disk)."""

    label: str  # "A" or "B"
    folder: str
    cfg: object  # resnext.config.Config, from <folder>/config.resolved.yaml
    evals: list
    blocks: list
    manifest_path: str | None
    manifest_sha256: str | None

    @property
    def final(self):
        """The eval record of the last evaluated step."""
        return self.evals[-1]

    def predictions(self, step):
        """{field: array} of eval/step-<step>.predictions.npz (resnext.predictions), None when the
        eval record names no predictions file (written before predictions existed)."""
        record = next(r for r in self.evals if r["step"] == step)
        if not record.get("predictions"):
            return None
        path = paths.eval_predictions(paths.eval_json(self.folder, step))
        try:
            rows = predictions.read(path)
        except predictions.PredictionsError as exc:
            raise CompareError("%s; evaluate that checkpoint again" % exc) from exc
        if len(rows["label"]) != record.get("num_images"):
            raise CompareError(
                "%s holds %d images but %s says num_images %r; evaluate that "
                "checkpoint again"
                % (
                    path,
                    len(rows["label"]),
                    paths.eval_json(self.folder, step),
                    record.get("num_images"),
                )
            )
        return rows


def _number(value, integer=False):
    ok = isinstance(value, numbers.Integral) if integer else isinstance(value, numbers.Real)
    return ok and not isinstance(value, bool)


# what compare reads of each record, and the check it must pass: a hand-edited value of another
# type is named here, not met as a TypeError deep in a table
_EVAL_FIELDS = {
    "step": lambda v: _number(v, True),
    "epoch": _number,
    "top1": lambda v: _number(v) and 0 <= v <= 1,
    "top5": lambda v: _number(v) and 0 <= v <= 1,
    "num_images": lambda v: _number(v, True) and v > 0,
}
_BLOCK_FIELDS = {
    "start_step": lambda v: _number(v, True),
    "end_step": lambda v: _number(v, True),
    "wall_time_s": lambda v: v is None or _number(v),
    "images_per_sec_loops": lambda v: isinstance(v, list) and all(map(_number, v)),
    "warmup_loops_excluded": lambda v: _number(v, True),
    "rank_size": lambda v: _number(v, True),
    "versions": lambda v: isinstance(v, dict),
}


def _check_fields(path, record, fields, optional=()):
    if not isinstance(record, dict):
        raise CompareError("%s is not a JSON object; restore it from the run that wrote it" % path)
    for key, ok in fields.items():
        if key not in record and key in optional:
            continue
        if key not in record or not ok(record[key]):
            raise CompareError(
                "%s: %r is %s; restore the file from the run that wrote it"
                % (path, key, "missing" if key not in record else "not valid (%r)" % (record[key],))
            )


def _records(folder):
    """(evals, blocks) of the run folder, each record checked (CompareError naming its file)."""
    try:
        evals = collect.load_evals(folder, [])
        blocks = collect.load_blocks(folder, [])
    except collect.MissingResultsError as exc:
        raise CompareError(str(exc)) from exc
    except collect.ReportError as exc:
        raise CompareError("%s; restore the file from the run that wrote it" % exc) from exc
    except (TypeError, KeyError, AttributeError) as exc:  # not an object, or no step
        raise CompareError(
            "a record in %s or %s has no valid step (%s); restore it"
            % (paths.eval_dir(folder), paths.train_dir(folder), exc)
        ) from exc
    for record in evals:
        _check_fields(paths.eval_json(folder, record.get("step")), record, _EVAL_FIELDS)
    for record in blocks:
        _check_fields(
            paths.block_record(paths.train_dir(folder), record.get("block")),
            record,
            _BLOCK_FIELDS,
            optional=("versions", "warmup_loops_excluded"),
        )
    return evals, blocks


def _config(folder):
    path = paths.resolved_config(folder)
    if not os.path.isfile(path):
        raise CompareError(
            "%s: no such file; a run folder holds config.resolved.yaml (give "
            "the folder results/<run>)" % path
        )
    try:
        return load_resolved(path)
    except ConfigError as exc:
        raise CompareError(str(exc)) from exc


def load_run(folder, label):
    """The Run in `folder`; CompareError (one line, naming the file) when it is not a usable run."""
    if not os.path.isdir(folder):
        raise CompareError(
            "%s is not a run folder (no such directory); give results/<run>" % folder
        )
    cfg = _config(folder)
    evals, blocks = _records(folder)
    manifest = choice.run_manifest_path(folder, cfg.data_url)
    try:
        digest = atomic.sha256_file(manifest) if manifest else None
    except OSError as exc:
        raise CompareError("cannot read %s (%s)" % (manifest, exc.strerror)) from exc
    return Run(
        label=label,
        folder=folder,
        cfg=cfg,
        evals=evals,
        blocks=blocks,
        manifest_path=manifest,
        manifest_sha256=digest,
    )
