"""One frozen run configuration, from YAML files plus `key=value` overrides, to every stage.

The JSON schema in `schema/config.schema.yaml` (also `workflow/schemas/`, used by Snakemake's
`validate()`) is the single list of keys: their types, defaults and descriptions. `Config` is a
frozen dataclass generated from it, so a key added to the schema is a field here at once.
Runs in the Ascend container too: Python 3.7 syntax, no TensorFlow.
"""

import dataclasses
import difflib
import hashlib
import json
import math
import os
import re
import shlex

import yaml

from resnext import atomic, paths
from resnext.yamlload import Loader as _Loader

SCHEMA_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "schema", "config.schema.yaml"
)


def _load_yaml(stream):
    return yaml.load(stream, Loader=_Loader)


class ConfigError(ValueError):
    """A configuration that cannot be run; the message names the key or file."""


# What a key can change (its schema `affects`), in pipeline order; OPERATIONS alone: nothing is
# recomputed.
STAGES = ("data", "training", "evaluation", "export", "report")
OPERATIONS = "operations"
TRAIN_DATA = "train_data"  # accept_changes may name it: other train shards than those trained on


def keys_affecting(stage):
    """Sorted keys whose schema `affects` lists `stage` (one of STAGES)."""
    if stage not in STAGES:
        raise ValueError("stage %r is not one of %s" % (stage, ", ".join(STAGES)))
    return tuple(sorted(k for k, v in AFFECTS.items() if stage in v))


def load_schema():
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


_PY_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool, "array": tuple}


def _field_type(spec):
    kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    kinds = [k for k in kinds if k != "null"]
    return _PY_TYPES[kinds[0]] if len(kinds) == 1 else object


def _freeze(value):
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


def _thaw(value):
    return [_thaw(v) for v in value] if isinstance(value, tuple) else value


class _Derived:
    """Quantities every stage derives the same way from the keys."""

    @property
    def run_dir(self):
        return paths.run_dir(self.results_dir, self.run_name)

    @property
    def data_dir(self):
        return paths.data_dir(self.run_dir, self.data_url)

    @property
    def source_path(self):
        return paths.source_dir(self.run_dir, self.source_dir)

    @property
    def train_dir(self):
        return paths.train_dir(self.run_dir)

    @property
    def global_batch(self):
        return self.batch_size * self.rank_size

    @property
    def steps_per_epoch(self):
        """Whole global batches in one pass over the train split (>= 1)."""
        return max(1, self.num_train_images // self.global_batch)

    @property
    def schedule_steps(self):
        """T of the lr schedule: max_train_steps if set, else num_epochs worth of steps."""
        if self.max_train_steps:
            return int(self.max_train_steps)
        return max(1, int(round(self.num_epochs * self.steps_per_epoch)))

    @property
    def train_steps(self):
        """Steps actually run: schedule_steps rounded up to iterations_per_loop
        (the seed's 601,000)."""
        loop = self.iterations_per_loop
        return int(math.ceil(self.schedule_steps / float(loop))) * loop

    @property
    def block_steps(self):
        """Global step at the end of every training block (each ends in a checkpoint), ascending."""
        loop = self.iterations_per_loop
        length = self.checkpoint_every_steps or self.checkpoint_every_epochs * self.steps_per_epoch
        every = int(math.ceil(length / float(loop))) * loop
        ends = list(range(every, self.train_steps, every))
        return ends + [self.train_steps]

    def epoch_at(self, step):
        """Epochs of data seen after `step` global steps."""
        return step * self.global_batch / float(self.num_train_images)

    def to_dict(self):
        return {f.name: _thaw(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_yaml(self):
        return yaml.safe_dump(self.to_dict(), sort_keys=True, default_flow_style=False)

    def settings(self, stage):
        """{key: value} of the keys that affect `stage` (keys_affecting): what its results
        depend on."""
        return {k: _thaw(getattr(self, k)) for k in keys_affecting(stage)}

    def sha256(self, stage=None):
        """Hash of the canonical JSON form of every key (the identity of the whole config), or of
        the keys that affect `stage` (what a stage's result depends on: see settings)."""
        return keys_sha256(self.to_dict() if stage is None else self.settings(stage))

    def replace(self, **changes):
        return _validated(dict(self.to_dict(), **changes), "replace()")


def keys_sha256(values):
    """sha256 (hex str) of a {key: value} mapping's canonical JSON form (sorted keys, no spaces)."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _make_config_class(props):
    fields = [(name, _field_type(spec)) for name, spec in props.items()]
    return dataclasses.make_dataclass("Config", fields, bases=(_Derived,), frozen=True)


def _affects(props):
    """{key: its schema `affects` as a tuple}; raises ConfigError on a key without a valid one."""
    found = {}
    for name, spec in props.items():
        value = tuple(spec.get("affects") or ())
        known = set(value) <= set(STAGES + (OPERATIONS,))
        if not value or not known or (OPERATIONS in value and len(value) > 1):
            raise ConfigError(
                "%s: key %r needs `affects`: a list of %s, or [%s] alone"
                % (SCHEMA_PATH, name, ", ".join(STAGES), OPERATIONS)
            )
        found[name] = value
    return found


_PROPS = load_schema()["properties"]
AFFECTS = _affects(_PROPS)
Config = _make_config_class(_PROPS)
Config.__module__ = __name__
Config.__doc__ = "Frozen run configuration; fields are the schema's keys (see load_schema())."


def _check_cross_keys(values, origin):
    problems = []
    if values["crop_aspect_min"] > values["crop_aspect_max"]:
        problems.append(
            "crop_aspect_min (%s) is larger than crop_aspect_max (%s)"
            % (values["crop_aspect_min"], values["crop_aspect_max"])
        )
    scale = values["loss_scale"]
    if isinstance(scale, str) and scale != "dynamic":
        problems.append("loss_scale must be a number >= 1 or 'dynamic', not %r" % scale)
    if not isinstance(scale, str) and scale < 1:
        problems.append("loss_scale must be >= 1, not %r" % scale)
    if values["label_offset"] >= values["num_classes"]:
        problems.append(
            "label_offset (%d) leaves no class below num_classes (%d)"
            % (values["label_offset"], values["num_classes"])
        )
    if values["hosts"] and len(values["hosts"]) != values["rank_size"]:
        problems.append(
            "hosts lists %d entries but rank_size is %d"
            % (len(values["hosts"]), values["rank_size"])
        )
    if values["hosts"] and values["launcher"] == "slurm":  # SLURM's allocation places the ranks
        problems.append(
            "hosts is for launcher local; launcher slurm takes the hosts from the "
            "allocation: set hosts: []"
        )
    if values["backend"] == "npu":
        problems.extend(_npu_refusals(values))
    try:
        shlex.split(values["container_wrapper"])
    except ValueError as exc:  # the rules split it into words, each quoted for the shell
        problems.append(
            "container_wrapper %r is not a command line (%s)" % (values["container_wrapper"], exc)
        )
    problems.extend(_accept_problems(values["accept_changes"]))
    if problems:
        raise ConfigError("%s: %s" % (origin, "; ".join(problems)))


def _accept_problems(names):
    training = keys_affecting("training")
    wrong = [n for n in names if n not in training and n != TRAIN_DATA]
    if not wrong:
        return []
    return [
        "accept_changes names %s, which %s no training key: it may name only keys whose "
        "`affects` lists training in %s, and %s"
        % (
            ", ".join(repr(n) for n in wrong),
            "is" if len(wrong) == 1 else "are",
            SCHEMA_PATH,
            TRAIN_DATA,
        )
    ]


NOT_ON_NPU = ("fp16", "bf16")  # the GPU's and the CPU's modes; backends/npu.py maps the others


def _npu_refusals(values):
    """What backend npu cannot run faithfully (the only place these are refused)."""
    problems = []
    if values["precision_mode"] in NOT_ON_NPU:
        enum = load_schema()["properties"]["precision_mode"]["enum"]
        modes = sorted(m for m in enum if m not in NOT_ON_NPU)
        problems.append(
            "precision_mode %r is not an NPU mode (fp16 is the GPU's, bf16 the CPU's); "
            "with backend npu use one of %s (fp32 maps to the NPU's force_fp32)"
            % (values["precision_mode"], ", ".join(modes))
        )
    if values["loss_scale"] == "dynamic":
        # the 910 saturates on fp16 overflow instead of producing inf/nan (backends/npu.py)
        problems.append(
            "loss_scale 'dynamic' is not supported on backend npu yet: the Ascend 910 "
            "saturates on fp16 overflow, so the inf/nan check cannot see it; use a "
            "static loss_scale (the seed uses 1024)"
        )
    return problems


def _unknown_keys(values, known):
    """'unknown key(s) ...', each with the closest known key, and where every key is described."""
    named = []
    for key in sorted((k for k in values if k not in known), key=str):
        close = difflib.get_close_matches(str(key), list(known), n=1)
        named.append("%r%s" % (key, " (did you mean %r?)" % close[0] if close else ""))
    return "unknown key(s) %s; every key is described in %s" % (", ".join(named), SCHEMA_PATH)


def _schema_errors(values, schema):
    import jsonschema  # imported here: the container only needs it when a config is loaded

    validator = jsonschema.validators.validator_for(schema)(schema)
    messages = []
    for err in sorted(validator.iter_errors(values), key=lambda e: list(e.path)):
        if (
            err.validator == "additionalProperties" and not err.path
        ):  # nested: the generic message names it
            messages.append(_unknown_keys(values, schema["properties"]))
            continue
        key = ".".join(str(p) for p in err.path) or "(top level)"
        message = "key %r: %s" % (key, err.message)
        if err.validator in ("pattern", "not") and isinstance(err.instance, str):
            message = "key %r: %s %s" % (key, _printable(err.instance), _refusal(schema, err))
        if message not in messages:  # a value can fail a key's pattern and its $ref'd rule alike
            messages.append(message)
    return messages


def _refusal(schema, err):
    """What a key's schema `refusal` says its values may be (the key's own, else the $defs rule's
    that refused the value)."""
    own = schema["properties"].get(str(err.path[0]), {}) if err.path else {}
    return own.get("refusal") or err.schema.get("refusal") or err.message


def _printable(text):
    """repr of a refused value, at most 80 characters: it may hold a newline or be huge."""
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:76] + "...'"


def _validated(values, origin):
    schema = load_schema()
    messages = _schema_errors(values, schema)
    if messages:
        raise ConfigError("%s: %s" % (origin, "; ".join(messages)))
    full = {k: spec.get("default") for k, spec in schema["properties"].items()}
    full.update(values)
    for key, spec in schema["properties"].items():
        if (
            _field_type(spec) is float
            and isinstance(full[key], int)
            and not isinstance(full[key], bool)
        ):
            full[key] = float(full[key])
    _check_cross_keys(full, origin)
    return Config(**{k: _freeze(v) for k, v in full.items()})


def parse_override(text):
    """'key=value' -> (key, value), the value parsed as YAML ('batch_size=8' -> 8)."""
    if "=" not in text:
        raise ConfigError("override %r is not of the form key=value" % text)
    key, raw = text.split("=", 1)
    try:
        value = _load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(
            "override %s: value is not valid YAML (%s)" % (_printable(text), _one_line(exc))
        )
    return key.strip(), value


def _one_line(exc):
    """A YAML error's text on one line (PyYAML's marks span several)."""
    return " ".join(str(exc).split())


def _read_yaml(path):
    if not os.path.isfile(path):
        raise ConfigError("config file %s does not exist" % path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            "config file %s is not UTF-8 text (byte 0x%02x at line %d); save it "
            "as UTF-8" % (path, raw[exc.start], line)
        )
    try:
        data = _load_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError("config file %s is not valid YAML: %s" % (path, _one_line(exc)))
    if not isinstance(data, dict):
        raise ConfigError(
            "config file %s must hold a mapping of keys, not %s" % (path, type(data).__name__)
        )
    return data


def load_config(paths, overrides=(), values=None):
    """Merge YAML files (later wins), then `values` (a dict), then 'key=value' overrides; validate.

    Raises ConfigError naming the file and key on anything the schema or the
    cross-key checks reject.
    """
    if isinstance(paths, str):
        paths = [paths]
    merged = {}
    for path in paths:
        merged.update(_read_yaml(path))
    merged.update(values or {})
    for item in overrides:
        key, value = parse_override(item)
        merged[key] = value
    origin = " + ".join(list(paths) + [o for o in overrides]) or "config"
    return _validated(merged, origin)


# First line of a file write_resolved wrote; the digest after it is cfg.sha256() of the keys below
RESOLVED_HEADER = "# resnext resolved config, config_sha256: "
_DIGEST = re.compile(r"[0-9a-f]{64}")


def write_resolved(cfg, path):
    """Write the resolved config (every key, sorted, under RESOLVED_HEADER) atomically; -> sha256.

    The stages load it with load_resolved, which trusts it without validating it again.
    """
    digest = cfg.sha256()
    atomic.write_text(path, "%s%s\n%s" % (RESOLVED_HEADER, digest, cfg.to_yaml()))
    return digest


def is_resolved(path):
    """True when `path` is a regular file starting with RESOLVED_HEADER (write_resolved's)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(RESOLVED_HEADER)) == RESOLVED_HEADER.encode("ascii")
    except OSError:
        return False


def resolved_keys_sha256(path):
    """sha256 of the keys a resolved config file holds, as written: the config sha256 that its
    first line and audit.json claim, whichever version of resnext wrote it (a later version's
    defaults for keys it lacks do not enter). Raises ConfigError naming the file when unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            f.readline()
            data = _load_yaml(f.read())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            "resolved config %s cannot be read (%s)" % (path, " ".join(str(exc).split()))
        )
    if not isinstance(data, dict):
        raise ConfigError("%s is not a resolved config (not a mapping of keys)" % path)
    return keys_sha256(data)


def load_resolved(path):
    """A file write_resolved wrote -> Config, without a second schema validation.

    Validated when it was written; what is checked here is that it is still what was written: the
    sha256 of its keys must equal its header's, so a hand-edited or damaged file is refused
    (ConfigError naming it), as is one from a version of resnext with other keys.
    """
    try:
        with open(path, encoding="utf-8") as f:
            header, text = f.readline(), f.read()
        data = _load_yaml(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            "resolved config %s cannot be read (%s); resolve it again (the "
            "workflow's resolve_config job, or `resnext resolve-config`)"
            % (path, " ".join(str(exc).split()))
        )
    digest = header[len(RESOLVED_HEADER) :].strip()
    fields = {f.name for f in dataclasses.fields(Config)}
    ours = header.startswith(RESOLVED_HEADER) and _DIGEST.fullmatch(digest)
    if not (ours and isinstance(data, dict)):
        raise ConfigError(
            "%s is not a resolved config (no %r first line with its sha256); resolve "
            "it again" % (path, RESOLVED_HEADER.strip())
        )
    if set(data) != fields:
        differ = sorted(set(data) ^ fields, key=str)
        raise ConfigError(
            "resolved config %s was written by another version of resnext (keys "
            "differ: %s); resolve it again" % (path, ", ".join(map(str, differ)))
        )
    try:
        cfg = Config(**{k: _freeze(v) for k, v in data.items()})
        actual = cfg.sha256()
    except (TypeError, ValueError) as exc:
        actual = "unreadable (%s)" % exc
    if actual != digest:
        raise ConfigError(
            "resolved config %s was changed after it was written (its keys hash to "
            "%s, its first line says %s); do not edit it: change the config it was "
            "resolved from and resolve again" % (path, actual[:16], digest[:16])
        )
    return cfg
