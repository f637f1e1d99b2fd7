"""Which files of a data folder the converter wrote, and may therefore replace or remove.

The converter never deletes or overwrites a file it cannot prove it wrote. Its proof is its own
records: a shard file (`train-NNNNN-of-NNNNN`, `validation-...`) is ours when manifest.json lists it
by name or its sidecar `<shard>.json` (a JSON object whose `name` is that shard) exists; a sidecar
proves itself by that content; manifest.json is ours when it has the converter's layout (`format`,
`splits` with their `shards`, `counts`); a temp file of an atomic write, `<one of those>.tmp-<pid>`,
is ours by its name. Any other file named like a shard, a sidecar or the manifest (a folder of
someone else's shards, a JSON of another tool) is foreign: `survey` refuses the whole folder before
anything is written, naming them. Files with other names are never touched.
Every shard file the converter creates is named by a sidecar or the manifest at every moment (the
sidecar is written just before the shard is renamed into place), so a kill never leaves one of our
shards unprovable. Host only.
"""

import collections
import os
import re

from resnext import atomic, paths
from resnext.config import ConfigError
from resnext.data import manifest as manifests
from resnext.data import shardwriter

_SHARD = r"(?:train|validation)-\d{5}-of-\d{5}"
_SIDE = re.escape(shardwriter.SIDECAR_SUFFIX)
SIDECAR_RE = re.compile(r"^(%s)%s$" % (_SHARD, _SIDE))
TEMP_RE = re.compile(r"^(%s(?:%s)?|%s)\.tmp-\d+$" % (_SHARD, _SIDE, re.escape(paths.MANIFEST)))
NAMED = 5  # foreign files named in the message; the rest are counted

Survey = collections.namedtuple("Survey", "manifest sidecars shards temps")


class ForeignFiles(ConfigError):
    """The data folder holds files named like the converter's outputs that it did not write."""


def _read(path):
    try:
        return atomic.read_json(path)
    except (ValueError, OSError):  # unreadable, not UTF-8, not JSON: not something we wrote
        return None


def is_own_manifest(data):
    """True for a dict with the layout resnext.data.manifest.build writes."""
    if not (
        isinstance(data, dict)
        and isinstance(data.get("format"), int)
        and isinstance(data.get("splits"), dict)
        and isinstance(data.get("counts"), dict)
    ):
        return False
    return all(
        isinstance(entry, dict)
        and isinstance(entry.get("shards"), list)
        and all(isinstance(s, dict) and isinstance(s.get("name"), str) for s in entry["shards"])
        for entry in data["splits"].values()
    )


def _is_own_sidecar(data, shard):
    return (
        isinstance(data, dict)
        and data.get("name") == shard
        and isinstance(data.get("task_sha256"), str)
    )


def manifest_shards(manifest):
    """Names of the shards a manifest lists."""
    return {s["name"] for entry in manifest["splits"].values() for s in entry["shards"]}


def survey(data_dir):
    """-> Survey(manifest dict or None, {shard: sidecar dict}, [shard names present], [temp names]).

    Raises ForeignFiles naming every file (the first few, and how many more) named like a shard,
    a sidecar or the manifest that the converter cannot prove it wrote; nothing has been changed.
    """
    names = sorted(os.listdir(data_dir))
    foreign, sidecars, temps = [], {}, [n for n in names if TEMP_RE.match(n)]
    manifest = None
    if paths.MANIFEST in names:
        manifest = _read(paths.manifest(data_dir))
        if not is_own_manifest(manifest):
            foreign.append(paths.MANIFEST)
            manifest = None
    for name in names:
        match = SIDECAR_RE.match(name)
        if match:
            side = _read(os.path.join(data_dir, name))
            if _is_own_sidecar(side, match.group(1)):
                sidecars[match.group(1)] = side
            else:
                foreign.append(name)
    listed = manifest_shards(manifest) if manifest else set()
    shards = [n for n in names if manifests.SHARD_RE.match(n)]
    foreign.extend(n for n in shards if n not in listed and n not in sidecars)
    if foreign:
        raise ForeignFiles(_message(data_dir, sorted(foreign)))
    return Survey(manifest, sidecars, shards, temps)


def _message(data_dir, foreign):
    more = " and %d more" % (len(foreign) - NAMED) if len(foreign) > NAMED else ""
    return (
        "data folder %s holds %d file(s) named like conversion outputs that `resnext convert` "
        "did not write (no manifest.json or sidecar of ours names them): %s%s. Nothing was "
        "changed. Move them out of the folder, or set data_url to an empty folder (or to one "
        "`resnext convert` wrote)" % (data_dir, len(foreign), ", ".join(foreign[:NAMED]), more)
    )
