"""<run>/ro-crate-metadata.json: the run as a Provenance Run Crate (RO-Crate 1.1; Workflow Run
Crate profiles 0.5), written with the `rocrate` library by the report stage (host only).

What it holds (every @id relative to the run folder, so a moved copy stays valid):
    the workflow    workflow/Snakefile and workflow/rules/*.smk, copied from the project into
                    the run (main entity, Snakemake, the git commit), each rule a tool with its step
    the config      config.resolved.yaml
    the dataset     data/ (its manifest, each shard present) or data_url's folder, described
    each stage run  a CreateAction (instrument: its rule) with start/end times and its inputs and
                    outputs; a ControlAction per step; an OrganizeAction for Snakemake
    software        resnext, Python, TensorFlow, numpy ... as the training blocks recorded them
Every File carries its sha256. Large files' hashes come from the records the stages wrote (the
manifest's shards, an eval JSON's predictions, export.json's graph, a checkpoint's one hash over
its files, on a #checkpoint-<step> entity its files are part of), so the report hashes only small
files (records, config, report files, the workflow copy). `resnext verify` checks them all.
Times: a block's started/finished_utc, an evaluation's evaluated_utc; a stage that records no time
(convert, index, export) ends when its last written record (manifest.json, export.json) was.
"""

from __future__ import annotations

import datetime as _dt
import glob
import logging
import os
from importlib import metadata

import resnext

from resnext import atomic, checkpoints, paths
from resnext.data import choice
from resnext.report import fmt

log = logging.getLogger(__name__)

RO_CRATE_VERSION = "1.1"  # what the Workflow Run Crate 0.5 profiles build on
PROFILES = (
    ("https://w3id.org/ro/wfrun/process/0.5", "Process Run Crate"),
    ("https://w3id.org/ro/wfrun/workflow/0.5", "Workflow Run Crate"),
    ("https://w3id.org/ro/wfrun/provenance/0.5", "Provenance Run Crate"),
    ("https://w3id.org/workflowhub/workflow-ro-crate/1.0", "Workflow RO-Crate"),
)
SNAKEMAKE_LANGUAGE = "https://w3id.org/workflowhub/workflow-ro-crate#snakemake"
WORKFLOW_COPY = "workflow"  # <run>/workflow/: the Snakefile and rules the run was made with
# (rule, what it does): the steps of the workflow, in order
STEPS = (
    ("convert", "the JPEG tree -> TFRecord shards and their manifest"),
    ("index", "existing shards -> their manifest (never rewritten)"),
    ("train_block", "one training block: the previous checkpoint -> the next"),
    ("evaluate_checkpoint", "one checkpoint -> eval/step-<step>.json and its predictions"),
    ("export", "the final checkpoint -> the frozen graph and export.json"),
    ("report", "the results -> report/ and this crate"),
)
TOOLS = {rule: "#rule-%s" % rule for rule, _ in STEPS}
RULE_FILES = {
    "convert": "data.smk",
    "index": "data.smk",
    "train_block": "train.smk",
    "evaluate_checkpoint": "evaluate.smk",
    "export": "export.smk",
    "report": "report.smk",
}
STEP_IDS = {rule: "#step-%s" % rule for rule, _ in STEPS}


def _mtime_utc(path):
    when = _dt.datetime.fromtimestamp(os.path.getmtime(path), _dt.timezone.utc)
    return fmt.iso_utc(when)


class _Builder:
    """Adds entities to one ROCrate; `file()` returns a File's {"@id"} reference (or None)."""

    def __init__(self, run_dir):
        from rocrate.rocrate import ROCrate  # noqa: PLC0415 - host-only, report stage only

        self.run_dir = run_dir
        self.crate = ROCrate(version=RO_CRATE_VERSION)
        self.ckpt_sha = {}  # step -> the sha256 over its files an eval JSON or export.json claims

    def ref(self, entity_id):
        return {"@id": entity_id}

    def context(self, entity_id, properties):
        from rocrate.model.contextentity import ContextEntity  # noqa: PLC0415

        self.crate.add(ContextEntity(self.crate, entity_id, properties=properties))
        return self.ref(entity_id)

    def file(self, path, sha256=None, hashed=True, **properties):
        """The file at `path` (under the run) as a File, once (None when absent); its sha256 as
        given, else hashed here (small files only), else none (hashed=False: a checkpoint's)."""
        if not os.path.isfile(path):
            return None
        rel = os.path.relpath(path, self.run_dir).replace(os.sep, "/")
        if self.crate.dereference(rel) is None:
            props = dict(properties, contentSize=str(os.path.getsize(path)))
            props.setdefault("name", os.path.basename(path))
            if sha256 is None and hashed:
                sha256 = atomic.sha256_file(path)
            if sha256 is not None:
                props["sha256"] = sha256
            self.crate.add_file(dest_path=rel, properties=props)
        return self.ref(rel)

    def checkpoint(self, step):
        """#checkpoint-<step> and its files present, with the sha256 over its files that an eval
        JSON or export.json recorded (ckpt_sha; none recorded: no sha256)."""
        prefix = paths.ckpt_prefix(paths.train_dir(self.run_dir), step)
        entity_id = "#checkpoint-%s" % step
        if self.crate.dereference(entity_id) is None:
            parts = [
                self.file(p, hashed=False, isPartOf=self.ref(entity_id))
                for p in checkpoints.files_of(prefix)
            ]
            props = {
                "@type": "CreativeWork",
                "name": "checkpoint %s" % os.path.basename(prefix),
                "hasPart": parts,
                "description": "sha256 over its files, each name then its bytes, index first "
                "(resnext.checkpoints.sha256); no parts: pruned by retention",
            }
            if self.ckpt_sha.get(int(step)):
                props["sha256"] = self.ckpt_sha[int(step)]
            self.context(entity_id, props)
        return self.ref(entity_id)


def copy_workflow(project_dir, run_dir):
    """workflow/Snakefile and workflow/rules/*.smk of the project -> <run>/workflow/ (atomic);
    -> (Snakefile copy, [rule file copies]), or (None, []) when the project has no workflow."""
    snakefile = os.path.join(project_dir or "", "workflow", "Snakefile")
    if not project_dir or not os.path.isfile(snakefile):
        log.warning("no workflow/Snakefile in %s: the crate names no workflow", project_dir)
        return None, []
    folder = glob.escape(os.path.dirname(snakefile))
    rules = sorted(glob.glob(os.path.join(folder, "rules", "*.smk")))
    copies = []
    for source in [snakefile] + rules:
        rel = os.path.relpath(source, os.path.dirname(snakefile))
        copies.append(os.path.join(run_dir, WORKFLOW_COPY, rel))
        with open(source, "rb") as f:
            atomic.write_bytes(copies[-1], f.read())
    return copies[0], copies[1:]


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _software(b, blocks):
    """SoftwareApplication entities: resnext and what the training blocks recorded (the last
    block's versions, as audit.json), plus Snakemake and Python of this report process."""
    versions = dict((blocks[-1].get("versions") or {}) if blocks else {})
    versions.setdefault("resnext", resnext.__version__)
    refs = []
    for name, version in sorted(versions.items()):
        if version:
            refs.append(
                b.context(
                    "#software-%s" % name,
                    {
                        "@type": "SoftwareApplication",
                        "name": name,
                        "version": str(version),
                        "description": "as recorded by the training blocks (train/block-<b>.json)",
                    },
                )
            )
    engine = b.context(
        "#snakemake",
        {
            "@type": "SoftwareApplication",
            "name": "Snakemake",
            "url": "https://snakemake.github.io",
            "version": _version("snakemake") or "unknown",
        },
    )
    return refs, engine


def _workflow(b, ctx, snakefile, rule_files, software, used):
    """The main entity (the Snakefile copy), its language, and the tools (rules) and steps of
    the rules in `used` (every tool is an action's instrument; see TOOLS, STEPS)."""
    git = ctx.git or {}
    language = b.context(
        SNAKEMAKE_LANGUAGE,
        {
            "@type": "ComputerLanguage",
            "name": "Snakemake",
            "identifier": {"@id": "https://snakemake.readthedocs.io"},
            "url": {"@id": "https://snakemake.github.io"},
            "version": _version("snakemake") or "unknown",
        },
    )
    files = {
        os.path.basename(path): b.file(
            path, **{"@type": ["File", "SoftwareSourceCode"], "programmingLanguage": language}
        )
        for path in rule_files
    }
    tools, steps = [], []
    for position, (rule, what) in enumerate((r, w) for r, w in STEPS if r in used):
        tools.append(
            b.context(
                TOOLS[rule],
                {
                    "@type": "SoftwareApplication",
                    "name": "rule %s" % rule,
                    "description": what,
                    "softwareRequirements": software,
                    "isPartOf": files.get(RULE_FILES[rule]),
                },
            )
        )
        steps.append(
            b.context(
                STEP_IDS[rule],
                {
                    "@type": "HowToStep",
                    "name": rule,
                    "position": str(position),
                    "workExample": tools[-1],
                },
            )
        )
    main = b.file(
        snakefile,
        **{
            "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"],
            "name": "ResNeXt benchmark workflow (Snakefile)",
            "programmingLanguage": language,
            "version": git.get("commit") or "unknown",
            "description": "the project's workflow at git commit %s%s, copied into the run"
            % (git.get("commit") or "unknown", " (work tree dirty)" if git.get("dirty") else ""),
            "hasPart": tools,
            "step": steps,
        },
    )
    return main


def _dataset(b, ctx):
    """The run's data: data/ with its manifest and the shards present, or data_url's folder."""
    cfg, results = ctx.cfg, ctx.results
    man = results.manifest or {}
    data_dir = paths.data_dir(cfg.run_dir, cfg.data_url)
    origin = (ctx.audit.get("dataset") or {}).get("origin") if ctx.audit else None
    manifest = b.file(paths.manifest(paths.data_dir(cfg.run_dir)), sha256=results.manifest_sha256)
    if manifest is None and cfg.data_url:  # converted elsewhere: described, not part of the crate
        return b.context(
            "#dataset",
            {
                "@type": "CreativeWork",
                "name": "the run's shards",
                "url": cfg.data_url,
                "description": origin or "",
                "sha256": results.manifest_sha256,
            },
        )
    shards = []
    for _, split in sorted((man.get("splits") or {}).items()):
        for shard in split.get("shards") or []:
            path = os.path.join(data_dir, shard.get("path") or shard["name"])
            if os.path.abspath(path).startswith(os.path.abspath(cfg.run_dir) + os.sep):
                shards.append(b.file(path, sha256=shard.get("sha256")))
    if not os.path.isdir(paths.data_dir(cfg.run_dir)):
        return manifest
    rel = os.path.relpath(paths.data_dir(cfg.run_dir), cfg.run_dir) + "/"
    b.crate.add_dataset(
        dest_path=rel,
        properties={
            "name": "the run's dataset (TFRecord shards)",
            "description": origin or "",
            "hasPart": [r for r in [manifest] + shards if r],
        },
    )
    return b.ref(rel)


def _action(b, entity_id, tool, name, start=None, end=None, inputs=(), outputs=()):
    """One stage execution: a CreateAction of `tool`, with what it read and wrote (present)."""
    props = {
        "@type": "CreateAction",
        "name": name,
        "instrument": tool,
        "object": [r for r in inputs if r],
        "result": [r for r in outputs if r],
    }
    if start:
        props["startTime"] = start
    if end:
        props["endTime"] = end
    return b.context(entity_id, props)


def _step_of(path):
    """The step of a checkpoint path a record names, or None (none, or not a checkpoint's name:
    a hand-edited record is described without it, the report's consistency checks name it)."""
    try:
        return checkpoints.step_of(path) if path else None
    except ValueError:
        return None


def _stage_actions(b, ctx, tools, config, dataset, report_refs):
    """(rule, action reference) for every stage execution the records tell of, in order."""
    cfg, results, run = ctx.cfg, ctx.results, ctx.cfg.run_dir
    acts = []
    for rec in results.evals + ([results.export] if results.export else []):
        ckpt = rec.get("checkpoint") or {}
        step = _step_of(ckpt.get("path"))
        if step is not None and ckpt.get("sha256"):
            b.ckpt_sha.setdefault(step, ckpt["sha256"])
    mode = choice.decide(cfg).mode
    manifest = paths.manifest(paths.data_dir(run))
    if mode in ("convert", "index") and os.path.isfile(manifest):
        acts.append(
            (
                mode,
                _action(
                    b,
                    "#action-%s" % mode,
                    tools[mode],
                    "%s the data" % mode,
                    end=_mtime_utc(manifest),
                    inputs=[config],
                    outputs=[dataset],
                ),
            )
        )
    train = paths.train_dir(run)
    for block in results.blocks:
        start, end = block.get("start_step"), block.get("end_step")
        inputs = [config, dataset] + ([b.checkpoint(start)] if start else [])
        outputs = [
            b.checkpoint(end),
            b.file(paths.block_record(train, block.get("block"))),
            b.file(paths.metrics(train)),
            b.file(paths.recipe(train)),
        ]
        acts.append(
            (
                "train_block",
                _action(
                    b,
                    "#action-train-%s" % end,
                    tools["train_block"],
                    "train to step %s" % end,
                    block.get("started_utc"),
                    block.get("finished_utc"),
                    inputs,
                    outputs,
                ),
            )
        )
    for rec in results.evals:
        step = rec["step"]
        path = paths.eval_json(run, step)
        npz = b.file(
            paths.eval_predictions(path), sha256=(rec.get("predictions") or {}).get("sha256")
        )
        acts.append(
            (
                "evaluate_checkpoint",
                _action(
                    b,
                    "#action-evaluate-%s" % step,
                    tools["evaluate_checkpoint"],
                    "evaluate step %s" % step,
                    None,
                    rec.get("evaluated_utc"),
                    [config, dataset, b.checkpoint(step)],
                    [b.file(path), npz],
                ),
            )
        )
    export = paths.export_record(paths.export_dir(run))
    if results.export is not None and os.path.isfile(export):
        ckpt = results.export.get("checkpoint") or {}
        graph = paths.export_graph(paths.export_dir(run), cfg.arch)
        step = _step_of(ckpt.get("path"))
        inputs = [config] + ([b.checkpoint(step)] if step is not None else [])
        acts.append(
            (
                "export",
                _action(
                    b,
                    "#action-export",
                    tools["export"],
                    "export the frozen graph",
                    None,
                    _mtime_utc(export),
                    inputs,
                    [b.file(graph, sha256=results.export.get("graph_sha256")), b.file(export)],
                ),
            )
        )
    evals = [b.ref(os.path.relpath(paths.eval_json(run, r["step"]), run)) for r in results.evals]
    acts.append(
        (
            "report",
            _action(
                b,
                "#action-report",
                tools["report"],
                "write the report",
                None,
                ctx.generated_utc,
                [config]
                + evals
                + ([b.ref("export/" + paths.EXPORT_RECORD)] if results.export else []),
                report_refs,
            ),
        )
    )
    return acts


def build_crate(ctx, report_files, project_dir):
    """The crate of the run of report context `ctx` (build.Context, audit built) -> JSON-LD dict.

    report_files: {path relative to the report folder: sha256} (audit.json's report_files, plus
    audit.json itself). Copies the workflow into the run (copy_workflow)."""
    cfg, run = ctx.cfg, ctx.cfg.run_dir
    b = _Builder(run)
    snakefile, rule_files = copy_workflow(project_dir, run)
    software, engine = _software(b, ctx.results.blocks)
    config = b.file(
        paths.resolved_config(run),
        encodingFormat="application/yaml",
        description="every config key of the run, resolved",
    )
    dataset = _dataset(b, ctx)
    report_dir = paths.report_dir(run)
    report_refs = [
        b.file(os.path.join(report_dir, name), sha256=digest)
        for name, digest in sorted(report_files.items())
    ]
    tools = {rule: b.ref(entity_id) for rule, entity_id in TOOLS.items()}
    acts = _stage_actions(b, ctx, tools, config, dataset, report_refs)
    main = _workflow(b, ctx, snakefile, rule_files, software, {rule for rule, _ in acts})
    controls = [
        b.context(
            "#control-%s" % ref["@id"].lstrip("#"),
            {
                "@type": "ControlAction",
                "name": "run of step %s" % rule,
                "instrument": b.ref(STEP_IDS[rule]),
                "object": ref,
            },
        )
        for rule, ref in acts
    ]
    times = [t for t in ((ctx.audit or {}).get("times") or {}).values() if isinstance(t, str)]
    run_action = b.context(
        "#run",
        {
            "@type": "CreateAction",
            "name": "workflow run %s" % cfg.run_name,
            "instrument": main,
            "startTime": min(times, key=fmt.parse_utc) if times else ctx.generated_utc,
            "endTime": ctx.generated_utc,
            "object": [r for r in (config, dataset) if r],
            "result": [r for r in report_refs if r],
        },
    )
    b.context(
        "#organize",
        {
            "@type": "OrganizeAction",
            "name": "Snakemake ran the workflow",
            "instrument": engine,
            "result": run_action,
            "object": controls,
        },
    )
    _root(b, ctx, main, run_action)
    return b.crate.metadata.generate()


def _root(b, ctx, main, run_action):
    profiles = [
        b.context(url, {"@type": "CreativeWork", "name": name, "version": url.rsplit("/", 1)[1]})
        for url, name in PROFILES
    ]
    license_ref = b.context(
        "#license",
        {
            "@type": "CreativeWork",
            "name": "no license stated",
            "description": "the run's results are its owner's: ask them before reuse",
        },
    )
    root = b.crate.root_dataset
    root["name"] = "ResNeXt benchmark run %s" % ctx.cfg.run_name
    root["description"] = (
        "Results of the ResNeXt benchmark workflow: data, training, evaluation "
        "of every checkpoint, export and report (verdict %s)" % ctx.overall_status
    )
    root["datePublished"] = ctx.generated_utc
    root["license"] = license_ref
    root["conformsTo"] = profiles
    if main is not None:
        root["mainEntity"] = main
    root["mentions"] = run_action


def write_crate(ctx, report_files, project_dir):
    """build_crate -> <run>/ro-crate-metadata.json (atomic); -> its path."""
    path = paths.crate_metadata(ctx.cfg.run_dir)
    atomic.write_json(path, build_crate(ctx, report_files, project_dir))
    log.info("RO-Crate (Provenance Run Crate) written to %s", path)
    return path
