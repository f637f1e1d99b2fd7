"""A run's training recipe: what its checkpoints were trained with, and every change since.

<run>/train/recipe.json is written by `resnext train` before the first rank of a block starts:

    {"format": 1, "keys": {training key: value}, "keys_sha256": cfg.sha256("training"),
     "train_data": {"sha256", "shards", "num_images"} | null, "recorded_from_step": 0,
     "versions": [{"from_step", "keys_sha256", "train_data_sha256", "utc"}],
     "changes": [{"step", "key", "old", "new", "how": "extended" | "accepted", "utc"}]}

The training keys are those whose schema `affects` lists training (resnext.config.keys_affecting);
the train data's identity is the manifest's train shards (name, sha256, records) and label map,
not its file, so converting the same images again changes nothing. Once the run has a checkpoint
(or a block record), a config whose training keys or train data differ from the recipe is refused
before anything runs (RecipeChanged, naming each key with its old and new value), at DAG time in
the workflow (check_workflow) and here before any rank. Two changes go on, and are recorded at the
step training continues from: a longer num_epochs / max_train_steps that keeps the block
boundaries up to that step (an extension: only the new blocks train), and any key the config's
accept_changes names (TRAIN_DATA for other train shards). A run without any checkpoint has nothing
to protect: its recipe is simply written anew.
Runs in the Ascend container (the launcher) and in Snakemake (the DAG check): Python 3.7, no TF.
"""

import glob
import hashlib
import json
import logging
import os

from resnext import atomic, checkpoints, paths
from resnext.config import AFFECTS, TRAIN_DATA, ConfigError, keys_affecting, load_schema

log = logging.getLogger(__name__)

FORMAT = 1
LENGTH_KEYS = ("max_train_steps", "num_epochs")  # raised: the run is extended, not changed


class RecipeChanged(ConfigError):
    """The config would train an existing run with other training settings; nothing was run."""


def recipe_path(cfg):
    return paths.recipe(cfg.train_dir)


def _digest(value):
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def train_data_identity(manifest):
    """{"sha256", "shards", "num_images"} of a manifest's train split and label map; None without
    one."""
    if not isinstance(manifest, dict):
        return None
    train = (manifest.get("splits") or {}).get("train") or {}
    shards = [
        [s.get("name"), s.get("sha256"), s.get("num_records")] for s in train.get("shards") or []
    ]
    return {
        "sha256": _digest({"shards": shards, "label_map": manifest.get("label_map")}),
        "shards": len(shards),
        "num_images": train.get("num_images"),
    }


def trained_step(cfg):
    """The newest step this run has trained to: its newest complete checkpoint, or the newest block
    record's end (when checkpoints were deleted); 0 when it has trained nothing."""
    steps = [checkpoints.latest_step(cfg.train_dir) or 0]
    for path in glob.glob(paths.block_record(cfg.train_dir, "*")):
        try:
            steps.append(int(atomic.read_json(path).get("end_step") or 0))
        except (OSError, ValueError, AttributeError, TypeError):
            continue
    return max(steps)


def read(cfg):
    """The run's recipe.json as a dict, None when there is none; ConfigError naming a damaged
    one."""
    path = recipe_path(cfg)
    if not os.path.lexists(path):
        return None
    fields = ("keys", "versions", "changes")
    try:
        record = atomic.read_json(path)
    except (OSError, ValueError) as exc:
        record, why = None, str(exc)
    else:
        why = (
            "it is not a JSON object"
            if not isinstance(record, dict)
            else "it lacks %s" % ", ".join(k for k in fields if k not in record)
        )
    if not (
        isinstance(record, dict)
        and all(k in record for k in fields)
        and isinstance(record["keys"], dict)
    ):
        raise ConfigError(
            "%s is not a training recipe `resnext train` wrote (%s): restore it from "
            "a backup, or set a new run_name" % (path, why)
        )
    return record


def differences(cfg, recorded):
    """[(key, old, new)] of the training keys whose value differs from the recipe's, in key order.
    A key the recipe lacks (added to the schema later) counts as having had its default."""
    defaults = {k: spec.get("default") for k, spec in load_schema()["properties"].items()}
    now = cfg.settings("training")
    old = recorded.get("keys") or {}
    return [
        (k, old.get(k, defaults.get(k)), now[k])
        for k in keys_affecting("training")
        if old.get(k, defaults.get(k)) != now[k]
    ]


def _extends(cfg, recorded, step):
    """True when cfg only lengthens the recipe's schedule past `step`, keeping its block boundaries
    up to `step` (so the blocks trained stay blocks of the new plan)."""
    try:  # the recipe's own plan: every recorded training key over this config
        old = cfg.replace(**{k: v for k, v in recorded["keys"].items() if k in AFFECTS})
    except (ConfigError, TypeError):
        return False
    if cfg.train_steps <= max(old.train_steps, step):
        return False
    done = [s for s in cfg.block_steps if s <= step]
    return done == [s for s in old.block_steps if s <= step] and (not done or done[-1] == step)


# how the refusal shows accept_changes: `resnext` takes --set, the workflow a config file's key
CLI_EXAMPLE = "--set accept_changes=[%s]"
WORKFLOW_EXAMPLE = "accept_changes: [%s] in your config file"


def plan_changes(cfg, recorded, identity, step, example=CLI_EXAMPLE):
    """[(key, old, new, how)] the run goes on with; RecipeChanged for any other difference."""
    diffs = differences(cfg, recorded)
    old_data = (recorded.get("train_data") or {}).get("sha256")
    if identity is not None and old_data is not None and identity["sha256"] != old_data:
        diffs.append((TRAIN_DATA, old_data, identity["sha256"]))
    extends = any(k in LENGTH_KEYS for k, _, _ in diffs) and _extends(cfg, recorded, step)
    allowed, refused = [], []
    for key, old, new in diffs:
        if key in LENGTH_KEYS and extends:
            allowed.append((key, old, new, "extended"))
        elif key in cfg.accept_changes:
            allowed.append((key, old, new, "accepted"))
        else:
            refused.append((key, old, new))
    if refused:
        raise RecipeChanged(_refusal(cfg, refused, step, example))
    if allowed and step >= cfg.train_steps:
        raise RecipeChanged(
            "run %s is complete (it has trained to step %d, its last block): %s "
            "changed but nothing is left to train with %s. Set a new run_name to "
            "train with it, or undo the change"
            % (cfg.run_dir, step, _listed(allowed), "it" if len(allowed) == 1 else "them")
        )
    return allowed


def _value(value):
    return json.dumps(value, sort_keys=True)


def _listed(changes):
    return ", ".join("%s %s -> %s" % (c[0], _value(c[1]), _value(c[2])) for c in changes)


def _refusal(cfg, refused, step, example):
    keys = [k for k, _, _ in refused]
    length = [k for k in keys if k in LENGTH_KEYS]
    hint = (
        (
            " (a longer %s extends a run only when the block boundaries up to step %d stay as they "
            "were)" % (" / ".join(length), step)
        )
        if length
        else ""
    )
    return (
        "run %s has trained to step %d with other training settings: %s (recorded in %s)%s. "
        "Nothing was run. Set a new run_name to train a new run with these values; or continue "
        "this run from step %d with them by naming %s in accept_changes (e.g. %s), which "
        "records the change in recipe.json, audit.json and the report; or undo the change"
        % (
            cfg.run_dir,
            step,
            _listed(refused),
            recipe_path(cfg),
            hint,
            step,
            "it" if len(keys) == 1 else "them",
            example % ",".join(keys),
        )
    )


def _version(cfg, identity, step, now):
    return {
        "from_step": step,
        "keys_sha256": cfg.sha256("training"),
        "utc": now,
        "train_data_sha256": identity["sha256"] if identity else None,
    }


def fresh(cfg, identity, step, now):
    """The recipe of a run that starts (or is first recorded) at `step`."""
    return {
        "format": FORMAT,
        "keys": cfg.settings("training"),
        "keys_sha256": cfg.sha256("training"),
        "train_data": identity,
        "recorded_from_step": step,
        "versions": [_version(cfg, identity, step, now)],
        "changes": [],
    }


def updated(cfg, recorded, identity, changes, step, now):
    """`recorded` with `changes` (plan_changes) applied from `step` on."""
    new = dict(
        recorded,
        keys=cfg.settings("training"),
        keys_sha256=cfg.sha256("training"),
        train_data=identity or recorded.get("train_data"),
    )
    new["versions"] = list(recorded["versions"]) + [_version(cfg, identity, step, now)]
    new["changes"] = list(recorded["changes"]) + [
        {"step": step, "key": k, "old": old, "new": value, "how": how, "utc": now}
        for k, old, value, how in changes
    ]
    return new


def check(cfg, manifest=None, example=CLI_EXAMPLE):
    """-> [(key, old, new, how)] that training of this config would record (RecipeChanged if it is
    refused). Reads recipe.json and the checkpoints; writes nothing (the workflow's DAG check)."""
    recorded = read(cfg)
    step = trained_step(cfg)
    if recorded is None or not step:
        return []
    return plan_changes(cfg, recorded, train_data_identity(manifest), step, example)


def check_workflow(cfg):
    """The workflow's DAG-time check (rules/common.smk, before any job): check() against the
    manifest on disk now (none yet, or unreadable: the train data is checked by the train job);
    RecipeChanged names every refused key."""
    from resnext.data import choice  # not at import: choice is not needed by the launcher's path

    try:
        manifest = atomic.read_json(choice.manifest_path(cfg))
    except (OSError, ValueError):
        manifest = None
    return check(cfg, manifest, WORKFLOW_EXAMPLE)


def begin_block(cfg, manifest, now):
    """Before the ranks of a block start: check cfg against the recipe and write recipe.json anew
    (first block, or a run trained before recipes were recorded) or with the changes it goes on
    with, recorded at the step training continues from. Raises RecipeChanged, writing nothing."""
    recorded, step = read(cfg), trained_step(cfg)
    identity = train_data_identity(manifest)
    if recorded is None or not step:
        if step:
            log.warning(
                "%s has checkpoints up to step %d but no %s: recording the current "
                "training settings as its recipe from step %d on",
                cfg.run_dir,
                step,
                os.path.basename(recipe_path(cfg)),
                step,
            )
        atomic.write_json(recipe_path(cfg), fresh(cfg, identity, step, now))
        return []
    changes = plan_changes(cfg, recorded, identity, step)
    if changes:
        atomic.write_json(recipe_path(cfg), updated(cfg, recorded, identity, changes, step, now))
        for key, old, new, how in changes:
            log.warning(
                "recipe: %s %s -> %s from step %d (%s), recorded in %s",
                key,
                _value(old),
                _value(new),
                step,
                how,
                recipe_path(cfg),
            )
    return changes


def version_at(recorded, step):
    """The recipe version in force for a block ending at `step` (the last that began before it)."""
    found = None
    for version in recorded.get("versions") or []:
        if version.get("from_step", 0) < step:
            found = version
    return found
