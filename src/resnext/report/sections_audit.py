"""Report sections for the export check, the dataset manifest,
the MLPerf log and the audit record."""

from __future__ import annotations

from resnext.report import fmt
from resnext.report.render import Facts, Heading, Para, Table


def export_section(ctx):
    export, check = ctx.results.export, ctx.export_check
    head = Heading(2, "Export check")
    if export is None:
        return [head, Para("export/export.json: %s." % fmt.MISSING)]
    ckpt, inp = export.get("checkpoint") or {}, export.get("input") or {}
    final_sha = (ctx.results.evals[-1].get("checkpoint") or {}).get("sha256")
    same = "yes" if ckpt.get("sha256") and ckpt.get("sha256") == final_sha else "no"
    limits = check["limits"]
    return [
        head,
        Facts(
            [
                ("Status", check["status"]),
                ("Architecture", fmt.plain(export.get("arch"))),
                (
                    "Frozen graph",
                    "%s (sha256 %s)" % (export.get("graph"), export.get("graph_sha256")),
                ),
                ("Checkpoint", "%s (sha256 %s)" % (ckpt.get("path"), ckpt.get("sha256"))),
                ("Checkpoint is the final evaluated one", same),
                (
                    "Input",
                    "%s %s %s" % (inp.get("name"), fmt.plain(inp.get("shape")), inp.get("dtype")),
                ),
                ("Outputs", fmt.plain(export.get("outputs"))),
                (
                    "max |diff| logits",
                    "%s (limit %s)"
                    % (
                        fmt.sci(export.get("max_abs_diff_logits")),
                        fmt.sci(limits["max_abs_diff_logits"]),
                    ),
                ),
                (
                    "max |diff| probabilities",
                    "%s (limit %s)"
                    % (
                        fmt.sci(export.get("max_abs_diff_probabilities")),
                        fmt.sci(limits["max_abs_diff_probabilities"]),
                    ),
                ),
                ("Images checked", fmt.plain(export.get("num_images_checked"))),
            ]
        ),
    ]


def dataset_section(ctx):
    data = ctx.audit_dataset
    head = Heading(2, "Dataset manifest")
    if data is None:
        return [head, Para("data/manifest.json: %s." % fmt.MISSING)]
    rows = [
        [name, fmt.plain(s["num_images"]), str(s["shards"]), str(s["records"])]
        for name, s in data["splits"].items()
    ]
    blocks = [
        head,
        Facts(
            [
                ("Data", data["origin"]),
                ("Chosen by (docs/data.md, Which data a run uses)", fmt.plain(data["rule"])),
                ("Manifest sha256", data["manifest_sha256"]),
                ("Source", fmt.plain(data["source"])),
                ("Seed", fmt.plain(data["seed"])),
                ("Label offset", fmt.plain(data["label_offset"])),
                ("Labels in label map", str(data["num_labels"])),
            ]
        ),
        Table(["split", "images", "shards", "records in shards"], rows),
    ]
    blocks.append(Facts(_verification_facts(ctx.audit["data_verification"], ctx.cfg)))
    skipped = data["skipped"]
    if not skipped:
        return blocks + [Para("Skipped files: none.")]
    return blocks + [
        Para("Skipped files: %d." % len(skipped)),
        Table(["path", "reason"], [[s.get("path"), s.get("reason")] for s in skipped]),
    ]


def _verification_facts(checked, cfg):
    """What was checked of the shards against the manifest, and when (audit data_verification)."""
    val, train = checked["validation"], checked["train"]
    val_text = "sha256 at %d of %d evaluations (last %s)" % (
        val["by_check"].get("sha256", 0),
        val["evaluations"],
        fmt.utc_text(val["last_verified_utc"]),
    )
    if val["unchecked_steps"]:
        val_text += "; NOT checked at step(s) %s" % ", ".join(map(str, val["unchecked_steps"]))
    if not train["block_starts"]:
        train_text = "no record (train/data-checks.jsonl is missing)"
    else:
        train_text = (
            "at %d block start(s): sha256 %d, size only %d (last %s; verify_train_sha256 %s)"
        ) % (
            train["block_starts"],
            train["by_check"].get("sha256", 0),
            train["by_check"].get("size", 0),
            fmt.utc_text(train["last_verified_utc"]),
            str(cfg.verify_train_sha256).lower(),
        )
    return [
        ("Validation shards checked against the manifest", val_text),
        ("Train shards checked against the manifest", train_text),
    ]


def mllog_section(ctx):
    comp = ctx.compliance
    head = Heading(2, "MLPerf-format log")
    if comp is None:
        return [head, Para("mllog.txt: not written (mlperf-logging is not installed).")]
    result = "accepted" if comp["valid"] else "rejected"
    facts = Facts(
        [
            ("File", "mllog.txt"),
            (
                "Compliance checker",
                "mlperf-logging %s ruleset %s, %s division, benchmark %s: %s"
                % (comp["usage"], comp["ruleset"], comp["division"], comp["benchmark"], result),
            ),
        ]
    )
    messages = [m.strip().splitlines()[0] for m in comp["messages"] + comp["warnings"] if m.strip()]
    if not messages:
        return [head, facts]
    return [head, facts, Table(["checker message (first line)"], [[m] for m in messages])]


def audit_section(ctx):
    audit = ctx.audit
    env, git, seeds = audit["environment"] or {}, audit["git"], audit["seeds"]
    facts = [
        ("Config sha256", audit["config_sha256"]),
        ("config.resolved.yaml sha256", fmt.plain(audit["resolved_config_sha256"])),
        ("Git commit", "%s (dirty: %s)" % (fmt.plain(git["commit"]), fmt.plain(git["dirty"]))),
        (
            "Backend / devices",
            "%s / %s" % (fmt.plain(env.get("backend")), fmt.plain(env.get("device_count"))),
        ),
        ("Hostnames", fmt.plain(env.get("hostnames"))),
        ("Container image digest", fmt.plain(env.get("image_digest"))),
        (
            "Seeds",
            "config %s, blocks %s, manifest %s"
            % (seeds["config"], fmt.plain(seeds["blocks"]), fmt.plain(seeds["manifest"])),
        ),
        ("Dataset manifest sha256", fmt.plain((audit["dataset"] or {}).get("manifest_sha256"))),
        ("Precision mode", fmt.plain(env.get("precision_mode"))),
    ]
    facts += _time_facts(audit["times"])
    facts += [
        ("Version %s" % k, fmt.plain(v)) for k, v in sorted((env.get("versions") or {}).items())
    ]
    tool = audit["report_tool"]
    facts.append(
        ("Report built with", "resnext %s on Python %s" % (tool["resnext"], tool["python"]))
    )
    blocks = [Heading(2, "Audit record"), Para("Machine-readable form: audit.json."), Facts(facts)]
    blocks += _problems_blocks(audit)
    config_rows = [[k, fmt.plain(v)] for k, v in sorted(audit["config"].items())]
    blocks += [Heading(3, "Configuration"), Table(["key", "value"], config_rows)]
    return blocks + _recipe_blocks(audit["training_recipe"])


def _recipe_blocks(recipe):
    """Every change of a training key during the run (train/recipe.json)."""
    head = Heading(3, "Training recipe")
    if recipe is None:
        return [head, Para("train/recipe.json: %s." % fmt.MISSING)]
    start = recipe.get("recorded_from_step") or 0
    since = (
        "recorded from step %s (earlier steps: unrecorded)" % start
        if start
        else "recorded from step 0"
    )
    if not recipe.get("changes"):
        return [
            head,
            Para("train/recipe.json: %s; no training key changed during the run." % since),
        ]
    fields = ("key", "old", "new", "how", "utc")
    rows = [[str(c.get("step"))] + [fmt.plain(c.get(k)) for k in fields] for c in recipe["changes"]]
    return [
        head,
        Para(
            "train/recipe.json: %s. These training keys changed during the run; each "
            "value holds from the step shown on:" % since
        ),
        Table(["from step", "key", "old", "new", "how", "recorded (UTC)"], rows),
    ]


def _time_facts(times):
    """Start/stop times in UTC ('unknown' when a record lacks them)."""
    return [
        ("Training start (UTC)", fmt.utc_text(times["train_start_utc"])),
        ("Training stop (UTC)", fmt.utc_text(times["train_stop_utc"])),
        ("Last evaluation (UTC)", fmt.utc_text(times["last_evaluation_utc"])),
    ]


def _problems_blocks(audit):
    missing = audit["missing_inputs"]
    problems = audit["consistency_problems"]
    blocks = [Heading(3, "Missing inputs and consistency")]
    if not missing and not problems:
        return blocks + [
            Para(
                "All inputs present; every result file carries the sha256 of the "
                "config keys it depends on, as the run's config (and training "
                "recipe) has them."
            )
        ]
    if missing:
        blocks.append(Table(["missing input", "expected at"], [[k, v] for k, v in missing.items()]))
    if problems:
        blocks.append(Table(["consistency problem"], [[p] for p in problems]))
    return blocks
