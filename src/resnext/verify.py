"""`resnext verify RUN_DIR`: re-check every hash and number a run's records claim, from the bytes on
disk, and list every mismatch (file, claimed, found).

What is checked (every path relative to RUN_DIR, so a moved or copied run verifies the same):
    config.resolved.yaml     its config sha256 vs report/audit.json resolved_config_sha256
    data/manifest.json       every shard's sha256 (the run's data, or data_url's shards)
    eval/step-<s>.json       the checkpoint train/ckpt/model.ckpt-<s> vs checkpoint.sha256 (pruned
                             by retention when none of its files is left: reported, not a mismatch),
                             the predictions file vs predictions.sha256, top1/top5/num_images vs
                             the predictions' own hits
    export/export.json       the frozen graph vs graph_sha256, its checkpoint vs checkpoint.sha256
    report/audit.json        every report file vs report_files
    ro-crate-metadata.json   every File's sha256, every #checkpoint-<s>'s over its files
Progress (resnext.progress) counts MB (kB) hashed of the total: a first pass over the same checks
sizes every file it would hash (no hashing), so a bar on a terminal, else a log line every 10%
or 10 s, says how far it is. Host only (Python >= 3.11): loads the resolved config with the schema.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
import re
import urllib.parse

from resnext import atomic, checkpoints, paths, predictions
from resnext import progress as progress_mod
from resnext.data import choice

log = logging.getLogger(__name__)

_CHUNK = 8 << 20  # large reads: hashing runs at sha256sum's speed (benchmarks/bench_verify.py)
_EVAL = re.compile(r"step-(\d+)\.json$")
_CRATE_CHECKPOINT = re.compile(r"#checkpoint-(\d+)")  # resnext.report.crate's checkpoint entities
_SIZED = "(sized, not hashed)"  # the sizing pass's found value: never equal to a claim


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """One claim the bytes on disk do not bear out. `path` is relative to the run."""

    path: str
    what: str
    claimed: object
    found: object

    def line(self):
        return "%s: %s claimed %s, found %s" % (self.path, self.what, self.claimed, self.found)


@dataclasses.dataclass
class Outcome:
    """What verify found: `checked` (relative path, what) pairs, mismatches, pruned checkpoints."""

    checked: list = dataclasses.field(default_factory=list)
    mismatches: list = dataclasses.field(default_factory=list)
    pruned: list = dataclasses.field(default_factory=list)
    bytes_hashed: int = 0
    files_hashed: list = dataclasses.field(default_factory=list)

    @property
    def ok(self):
        return not self.mismatches

    def as_dict(self):
        """The outcome as JSON-ready data (`resnext verify --out`, the workflow's verify.json)."""
        return {
            "ok": self.ok,
            "claims_checked": len(self.checked),
            "mismatches": [dataclasses.asdict(m) for m in self.mismatches],
            "pruned_checkpoints": list(self.pruned),
            "files_hashed": len(self.files_hashed),
            "bytes_hashed": self.bytes_hashed,
        }


class _Checker:
    """Runs the checks; with progress=None only sizes the files it would hash (the first pass)."""

    def __init__(self, run_dir, progress=None, scale=1e6):
        self.run_dir = run_dir
        self.out = Outcome()
        self.progress, self.scale = progress, scale
        self.hashes = {}  # path or checkpoint prefix -> found: a file claimed twice is read once

    def _read(self, n):
        self.progress.update(n / self.scale)

    def rel(self, path):
        return os.path.relpath(path, self.run_dir)

    def sha(self, path):
        """sha256 of a file, or 'missing'/'unreadable (...)' (a found value for the mismatch)."""
        if path not in self.hashes:
            self.hashes[path] = self._sha(path)
        return self.hashes[path]

    def _sha(self, path):
        if not os.path.isfile(path):
            return "missing"
        size = os.path.getsize(path)
        if self.progress is None:
            digest = _SIZED
        else:
            try:
                digest = atomic.sha256_file(path, _CHUNK, self._read)
            except OSError as exc:
                return "unreadable (%s)" % exc.strerror
        self.out.bytes_hashed += size
        self.out.files_hashed.append(path)
        log.debug("hashed %s", self.rel(path))
        return digest

    def claim(self, path, what, claimed, found):
        self.out.checked.append((self.rel(path), what))
        if claimed != found:
            self.out.mismatches.append(Mismatch(self.rel(path), what, claimed, found))

    def load_json(self, path):
        """The JSON at `path`, or None with a mismatch naming it when it cannot be read."""
        try:
            with open(path, "rb") as f:
                return json.loads(f.read().decode("utf-8"))
        except (OSError, ValueError) as exc:
            self.claim(path, "a readable JSON record", "JSON", "unreadable (%s)" % exc)
            return None

    def checkpoint(self, owner, step, claimed):
        """Checkpoint model.ckpt-<step> of this run vs the sha256 `owner` (a JSON) claims for it."""
        prefix = paths.ckpt_prefix(paths.train_dir(self.run_dir), step)
        if not checkpoints.files_of(prefix):
            if self.rel(prefix) not in self.out.pruned:
                self.out.pruned.append(self.rel(prefix))
            return
        if prefix not in self.hashes:
            self.hashes[prefix] = self._checkpoint_sha(prefix)
        found = self.hashes[prefix]
        # one hash over the checkpoint's files: the mismatch names the checkpoint (its prefix)
        what = "checkpoint sha256 over its files (%s)" % self.rel(owner)
        self.claim(prefix, what, claimed, found)

    def _checkpoint_sha(self, prefix):
        if not checkpoints.is_complete(prefix):
            return "incomplete"
        for path in checkpoints.files_of(prefix):
            self.out.bytes_hashed += os.path.getsize(path)
            self.out.files_hashed.append(path)
        if self.progress is None:
            return _SIZED
        return checkpoints.sha256(prefix, _CHUNK, self._read)


def _check_crate(ck):
    """Every sha256 the crate claims: a File's (its @id a path in the run), a checkpoint's."""
    path = paths.crate_metadata(ck.run_dir)
    if not os.path.isfile(path):
        return
    crate = ck.load_json(path)
    what = "sha256 (%s)" % ck.rel(path)
    for entity in (crate or {}).get("@graph") or []:
        claimed, entity_id = entity.get("sha256"), str(entity.get("@id") or "")
        if claimed is None:
            continue
        step = _CRATE_CHECKPOINT.fullmatch(entity_id)
        if step:
            ck.checkpoint(path, int(step.group(1)), claimed)
            continue
        rel = urllib.parse.unquote(entity_id)
        if "File" not in _types(entity) or _outside(rel):
            continue
        target = os.path.join(ck.run_dir, *rel.split("/"))
        ck.claim(target, what, claimed, ck.sha(target))


def _types(entity):
    kind = entity.get("@type")
    return kind if isinstance(kind, list) else [kind]


def _outside(rel):
    """An @id that is no path inside the run (a URL, absolute, or climbing out): not checked."""
    return (
        "://" in rel or rel.startswith(("/", "#")) or os.path.isabs(rel) or ".." in rel.split("/")
    )


def _check_config(ck, audit):
    path = paths.resolved_config(ck.run_dir)
    if audit is None or audit.get("resolved_config_sha256") is None:
        return None
    from resnext.config import ConfigError, load_config, resolved_keys_sha256  # noqa: PLC0415

    cfg, found = None, "missing"
    if os.path.isfile(path):
        # the claim is over the keys as written: a newer resnext's defaults for keys an older one
        # did not have must not turn an intact run into a mismatch
        try:
            found = resolved_keys_sha256(path)
            cfg = load_config([path])
        except ConfigError as exc:
            found = "unloadable (%s)" % exc if found == "missing" else found
    ck.claim(path, "config sha256 (audit.json)", audit["resolved_config_sha256"], found)
    return cfg


def _check_manifest(ck, cfg):
    data_dir = paths.data_dir(ck.run_dir, cfg.data_url if cfg is not None else None)
    # an indexed run's manifest is its own, its shards data_url's
    path = choice.run_manifest_path(ck.run_dir, cfg.data_url if cfg is not None else None)
    if path is None:
        return
    manifest = ck.load_json(path)
    for split in sorted(((manifest or {}).get("splits") or {}).items()):
        for shard in split[1].get("shards") or []:
            shard_path = os.path.join(data_dir, shard.get("path") or shard["name"])
            ck.claim(
                shard_path,
                "shard sha256 (%s)" % ck.rel(path),
                shard.get("sha256"),
                ck.sha(shard_path),
            )


def _check_eval(ck, path, step):
    record = ck.load_json(path)
    if record is None:
        return
    ck.checkpoint(path, step, (record.get("checkpoint") or {}).get("sha256"))
    entry = record.get("predictions")
    if not entry:
        return
    npz = paths.eval_predictions(path)
    found = ck.sha(npz)
    ck.claim(npz, "predictions sha256 (%s)" % ck.rel(path), entry.get("sha256"), found)
    if found != entry.get("sha256"):
        return  # the numbers of a changed predictions file prove nothing
    try:
        rows = predictions.read(npz)
    except predictions.PredictionsError as exc:
        ck.claim(npz, "a readable predictions file", "readable", str(exc))
        return
    n = int(len(rows["label"]))
    ck.claim(path, "num_images (predictions)", record.get("num_images"), n)
    for key, hits in (("top1", "top1_correct"), ("top5", "top5_correct")):
        found_value = float(rows[hits].sum()) / n if n else None
        claimed = record.get(key)
        same = (
            isinstance(claimed, (int, float))
            and found_value is not None
            and abs(claimed - found_value) <= 1e-9
        )
        ck.claim(path, "%s (predictions)" % key, claimed, claimed if same else found_value)


def _check_export(ck):
    path = paths.export_record(paths.export_dir(ck.run_dir))
    if not os.path.isfile(path):
        return
    record = ck.load_json(path)
    if record is None:
        return
    graph = os.path.join(os.path.dirname(path), os.path.basename(record.get("graph") or ""))
    ck.claim(graph, "graph sha256 (%s)" % ck.rel(path), record.get("graph_sha256"), ck.sha(graph))
    claimed_ckpt = record.get("checkpoint") or {}
    if claimed_ckpt.get("path"):
        ck.checkpoint(path, checkpoints.step_of(claimed_ckpt["path"]), claimed_ckpt.get("sha256"))


def _check_report(ck, audit, audit_path):
    folder = os.path.dirname(audit_path)
    for name, claimed in sorted((audit.get("report_files") or {}).items()):
        path = os.path.join(folder, name)
        ck.claim(path, "sha256 (%s)" % ck.rel(audit_path), claimed, ck.sha(path))


def verify(run_dir, progress_seconds=progress_mod.EVERY_SECONDS):
    """Check every claim of the run in `run_dir`; -> Outcome (nothing is written).

    Two passes over the same checks: the first sizes what the second hashes, for the progress.
    """
    if not os.path.isdir(run_dir):
        raise FileNotFoundError("%s is not a run folder (no such directory)" % run_dir)
    total = _run(_Checker(run_dir)).bytes_hashed
    unit, scale = ("MB", 1e6) if total >= 10e6 else ("kB", 1e3)  # whole units in the count
    with progress_mod.Progress(
        "verify", total=total / scale, unit=unit, every_seconds=progress_seconds
    ) as progress:
        return _run(_Checker(run_dir, progress, scale))


def _run(ck):
    """Every check, in order; -> ck's Outcome."""
    run_dir = ck.run_dir
    audit_path = paths.report_file(paths.report_dir(run_dir), "audit")
    audit = ck.load_json(audit_path) if os.path.isfile(audit_path) else None
    cfg = _check_config(ck, audit)
    _check_manifest(ck, cfg)
    evals = os.path.join(glob.escape(paths.eval_dir(run_dir)), "step-*.json")
    for path in sorted(glob.glob(evals)):
        match = _EVAL.search(os.path.basename(path))
        if match:
            _check_eval(ck, path, int(match.group(1)))
    _check_export(ck)
    if audit is not None:
        _check_report(ck, audit, audit_path)
    _check_crate(ck)
    return ck.out
