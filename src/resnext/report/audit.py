"""The audit record (audit.json): every fact an auditor needs to judge how a result was obtained.

Environment facts about the *training* (versions, hosts, devices) come from the block records
written by the training processes; the report process adds only what it can know itself (the
project's git state, the container digest from RESNEXT_IMAGE_DIGEST) and never imports TensorFlow.
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess

import resnext

from resnext import intervals
from resnext.data import choice
from resnext.report import benchmarks, fmt, tables, verdict

log = logging.getLogger(__name__)

IMAGE_DIGEST_ENV = "RESNEXT_IMAGE_DIGEST"
AUDIT_FORMAT = 1


def _git(project_dir, *args):
    try:
        out = subprocess.run(
            ["git", "-C", project_dir, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("git %s failed in %s: %s", " ".join(args), project_dir, exc)
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_info(project_dir):
    """{'repo', 'commit', 'dirty'}: commit None before the first commit; all None outside a repo."""
    if not project_dir or _git(project_dir, "rev-parse", "--is-inside-work-tree") != "true":
        return {"repo": None, "commit": None, "dirty": None}
    status = _git(project_dir, "status", "--porcelain")
    return {
        "repo": _git(project_dir, "rev-parse", "--show-toplevel"),
        "commit": _git(project_dir, "rev-parse", "--verify", "-q", "HEAD") or None,
        "dirty": None if status is None else bool(status),
    }


def _distinct(values):
    """Sorted distinct non-null values."""
    return sorted({v for v in values if v is not None}, key=str)


def environment(blocks, problems):
    """Versions, backend, devices, hosts from the block records (the last block's versions win)."""
    if not blocks:
        return None
    versions = dict(blocks[-1].get("versions") or {})
    for key in sorted({k for b in blocks for k in (b.get("versions") or {})}):
        seen = _distinct((b.get("versions") or {}).get(key) for b in blocks)
        if len(seen) > 1:
            problems.append(
                "versions.%s differs between blocks: %s" % (key, ", ".join(map(str, seen)))
            )
    return {
        "versions": versions,
        "backend": _one_or_list(_distinct(b.get("backend") for b in blocks)),
        "device_count": _one_or_list(_distinct(b.get("rank_size") for b in blocks)),
        "precision_mode": _one_or_list(_distinct(b.get("precision_mode") for b in blocks)),
        "hostnames": _distinct(h for b in blocks for h in b.get("hostnames") or []),
        "image_digest": os.environ.get(IMAGE_DIGEST_ENV) or None,
    }


def _one_or_list(values):
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def times(blocks, evals):
    started = [b.get("started_utc") for b in blocks if fmt.parse_utc(b.get("started_utc"))]
    finished = [b.get("finished_utc") for b in blocks if fmt.parse_utc(b.get("finished_utc"))]
    evaluated = [e.get("evaluated_utc") for e in evals if fmt.parse_utc(e.get("evaluated_utc"))]
    return {
        "train_start_utc": min(started, key=fmt.parse_utc) if started else None,
        "train_stop_utc": max(finished, key=fmt.parse_utc) if finished else None,
        "last_evaluation_utc": max(evaluated, key=fmt.parse_utc) if evaluated else None,
        "train_wall_time_s": tables.time_to_train(blocks),
    }


def data_origin(man, how):
    """One sentence on where the run's data came from,
    from its manifest and choice.decide's mode."""
    if man.get("adopted"):
        producer = man.get("producer") or {}
        made_by = " ".join(str(producer[k]) for k in ("name", "version") if producer.get(k))
        return (
            "indexed: existing %s shards in %s, read as they are (never written); producer %s; "
            "labels %s"
            % (
                man.get("layout_title") or man.get("layout"),
                man.get("shard_dir"),
                made_by or "unknown",
                man.get("label_convention"),
            )
        )
    if how == "converted":
        return "an earlier resnext convert of %s, used as it is (data_url)" % man.get("source")
    return "converted from the JPEG tree %s by resnext convert" % man.get("source")


def dataset(results, how=None):
    """The audit's dataset record; `how` is the run's data mode (resnext.data.choice.MODES)."""
    man = results.manifest
    if man is None:
        return None
    splits = {
        name: {
            "num_images": split.get("num_images"),
            "shards": len(split.get("shards") or []),
            "records": sum(s.get("num_records", 0) for s in split.get("shards") or []),
        }
        for name, split in sorted((man.get("splits") or {}).items())
    }
    return {
        "manifest_sha256": results.manifest_sha256,
        "source": man.get("source"),
        "seed": man.get("seed"),
        "label_offset": man.get("label_offset"),
        "num_labels": len(man.get("label_map") or {}),
        "splits": splits,
        "skipped": man.get("skipped") or [],
        "how": how,
        "layout": man.get("layout") or "tfslim",
        "origin": data_origin(man, how),
        "rule": "%s: %s" % (how, choice.RULE[how]) if how in choice.RULE else None,
    }


def _checks(records, stamps):
    """({check: how many} ('sha256', 'size') of identity.verify records, latest of `stamps`)."""
    kinds = {}
    for rec in records:
        kinds[str(rec.get("check"))] = kinds.get(str(rec.get("check")), 0) + 1
    stamps = [s for s in stamps if fmt.parse_utc(s)]
    return dict(sorted(kinds.items())), (max(stamps, key=fmt.parse_utc) if stamps else None)


def data_verification(results):
    """What was checked of the shards against the manifest, and when: the validation shards by
    each evaluation (its `data_verified`), the train shards at each block start
    (train/data-checks.jsonl)."""
    steps = [(e.get("step"), e.get("data_verified")) for e in results.evals]
    done = [v for _, v in steps if isinstance(v, dict)]
    # an evaluation checks its shards when it starts: its evaluated_utc says when
    by_check, last = _checks(
        done,
        [e.get("evaluated_utc") for e in results.evals if isinstance(e.get("data_verified"), dict)],
    )
    train_checks, train_last = _checks(
        results.data_checks, [r.get("verified_utc") for r in results.data_checks]
    )
    return {
        "validation": {
            "evaluations": len(steps),
            "checked": len(done),
            "by_check": by_check,
            "unchecked_steps": [s for s, v in steps if not isinstance(v, dict)],
            "last_verified_utc": last,
        },
        "train": {
            "block_starts": len(results.data_checks),
            "by_check": train_checks,
            "last_verified_utc": train_last,
        },
    }


def training_recipe(recipe):
    """What train/recipe.json says: from which step the recipe was recorded, and every change of a
    training key since (an extension or an accepted change, at the step training went on from)."""
    if recipe is None:
        return None
    return {
        "file": "train/recipe.json",
        "keys_sha256": recipe.get("keys_sha256"),
        "recorded_from_step": recipe.get("recorded_from_step"),
        "train_data": recipe.get("train_data"),
        "versions": recipe.get("versions"),
        "changes": recipe.get("changes"),
    }


def seeds(cfg, results):
    return {
        "config": cfg.seed,
        "blocks": _distinct(b.get("seed") for b in results.blocks),
        "manifest": (results.manifest or {}).get("seed"),
    }


def eval_record(rec):
    ckpt = rec.get("checkpoint") or {}
    return {
        "step": rec["step"],
        "epoch": rec["epoch"],
        "top1": rec["top1"],
        "top5": rec["top5"],
        "top1_ci95": intervals.rate_interval(rec, "top1"),
        "top5_ci95": intervals.rate_interval(rec, "top5"),
        "loss": rec["loss"],
        "num_images": rec.get("num_images"),
        "images_per_sec": rec.get("images_per_sec"),
        "checkpoint_path": ckpt.get("path"),
        "checkpoint_sha256": ckpt.get("sha256"),
        "checkpoint_time_utc": ckpt.get("time_utc"),
        "evaluated_utc": rec.get("evaluated_utc"),
        "warnings": list(rec.get("warnings") or []),
    }


def build_audit(ctx):
    """The audit.json document from the report context (see build.py)."""
    cfg, results, final = ctx.cfg, ctx.results, ctx.results.evals[-1]
    return {
        "audit_format": AUDIT_FORMAT,
        "run_name": cfg.run_name,
        "run_dir": results.run_dir,
        "config": cfg.to_dict(),
        "config_sha256": cfg.sha256(),
        "resolved_config_sha256": results.resolved_config_sha256,
        "git": ctx.git,
        "environment": environment(results.blocks, results.problems),
        "seeds": seeds(cfg, results),
        "times": times(results.blocks, results.evals),
        "dataset": dataset(results, choice.decide(cfg).mode),
        "data_verification": data_verification(results),
        "training_recipe": training_recipe(results.recipe),
        "training": {
            "blocks": [_block_record(s) for s in ctx.throughput],
            "overall_throughput": _rounded(ctx.overall) if ctx.overall else None,
            "time_to_target": _rounded(ctx.time_to_target) if ctx.time_to_target else None,
        },
        "final": {
            "step": final["step"],
            "epoch": final["epoch"],
            "top1": final["top1"],
            "top5": final["top5"],
            "top1_ci95": intervals.rate_interval(final, "top1"),
            "top5_ci95": intervals.rate_interval(final, "top5"),
        },
        "evaluations": [eval_record(r) for r in results.evals],
        "export": _export_record(results.export, ctx.export_check),
        "benchmarks": [
            _rounded(benchmarks.audit_record(b, ctx.reference, cfg.sha256()))
            for b in results.benchmarks
        ],
        "verdict": {
            "overall": ctx.overall_status,
            "items": [i.as_dict() for i in ctx.items],
            "rule": " ".join(
                (
                    verdict.ACCURACY_RULE,
                    verdict.THROUGHPUT_RULE,
                    verdict.OVERALL_RULE,
                    verdict.paper_note(ctx.reference),
                )
            ),
            "reference_file": ctx.reference_path,
            "reference_sha256": ctx.reference_sha256,
        },
        "mllog": ctx.compliance,
        "missing_inputs": dict(sorted(results.missing.items())),
        "consistency_problems": list(results.problems),
        "report_tool": {"python": platform.python_version(), "resnext": resnext.__version__},
        "report_generated_utc": ctx.generated_utc,
    }


def _rounded(value, decimals=4):
    """Derived floats rounded so audit.json carries no float-arithmetic noise."""
    if isinstance(value, dict):
        return {k: _rounded(v, decimals) for k, v in value.items()}
    return round(value, decimals) if isinstance(value, float) else value


def _block_record(stat):
    return _rounded(
        {
            "block": stat.block,
            "start_step": stat.start_step,
            "end_step": stat.end_step,
            "rank_size": stat.rank_size,
            "loops_used": stat.loops_used,
            "warmup_loops_excluded": stat.warmup_loops,
            "images_per_sec_mean": stat.mean,
            "images_per_sec_jitter": stat.jitter,
            "images_per_sec_per_device": stat.per_device,
            "images_per_sec_whole_block": stat.whole_block,
            "wall_time_s": stat.wall_time_s,
        }
    )


def _export_record(export, check):
    if export is None:
        return None
    return dict(export, check=check)
