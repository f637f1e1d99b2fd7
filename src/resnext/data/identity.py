"""Are the shards on disk the ones the run's manifest lists? By size (one stat per shard) or sha256.

The manifest's sha256 is the dataset's identity in the report, but a shard copied over another
after conversion changes what is trained or evaluated without changing the manifest. So every
evaluation hashes the validation shards, and every training block start checks the train shards'
sizes (and their sha256 with `verify_train_sha256`). A shard that differs, is missing, or is not
listed (the input pipeline reads every shard-named file) stops the stage naming it.
Runs in the Ascend container: Python 3.7 syntax, no TensorFlow.
"""

import logging
import os
import time

from resnext import atomic
from resnext.data import choice, layouts

log = logging.getLogger(__name__)

HASH_CHUNK = 8 << 20  # large reads: the hash, not the syscalls, sets the pace (~1 GB/s, machine C)


class DataChanged(ValueError):
    """A shard differs from what manifest.json says; the message names the shard and what to do."""


def _todo(plan):
    writer = "resnext index" if plan.mode == "index" else "resnext convert"
    return "restore the shard, or run `%s` again (`%s --verify` lists every difference)" % (
        writer,
        writer,
    )


def _listed_shards(plan, manifest, split):
    """[(name, bytes, sha256)] of `split` in the manifest; DataChanged if it does not hold them."""
    entry = ((manifest.get("splits") or {}) if isinstance(manifest, dict) else {}).get(split)
    shards = entry.get("shards") if isinstance(entry, dict) else None
    if not isinstance(shards, list) or not shards:
        raise DataChanged("%s lists no %s shards; %s" % (plan.manifest_path, split, _todo(plan)))
    out = []
    for shard in shards:
        name, size, digest = [
            shard.get(k) if isinstance(shard, dict) else None for k in ("name", "bytes", "sha256")
        ]
        if not (
            isinstance(name, str)
            and os.path.basename(name) == name
            and name
            and isinstance(size, int)
            and isinstance(digest, str)
        ):
            raise DataChanged(
                "%s: a %s shard entry lacks a shard name, bytes or sha256 (%.80r); %s"
                % (plan.manifest_path, split, shard, _todo(plan))
            )
        out.append((name, size, digest))
    return out


def _unlisted(plan, manifest, split, names):
    """The first `split` shard file in the folder that the manifest does not list, or None."""
    layout = layouts.by_name(manifest.get("layout"))
    extra = [
        n for n in layouts.shard_names(os.listdir(plan.shard_dir), layout, split) if n not in names
    ]
    return extra[0] if extra else None


def verify(cfg, manifest, split, full):
    """Check the run's `split` shards against `manifest` (the parsed manifest, resnext.data.choice).

    full: compare sha256 (one pass over every byte), else sizes only. Returns what was verified,
    {"split", "check": "sha256"|"size", "shards", "bytes"}: equal for equal data, so two
    evaluations of one checkpoint still write equal JSON (the caller records when). Raises
    DataChanged naming the first shard that is missing, unlisted, or of another size or sha256.
    """
    t0 = time.time()
    plan = choice.decide(cfg)
    listed = _listed_shards(plan, manifest, split)
    extra = _unlisted(plan, manifest, split, {name for name, _, _ in listed})
    if extra:
        raise DataChanged(
            "%s shard %s is not listed in %s, and the input would read it; move it "
            "out of the folder, or %s"
            % (split, os.path.join(plan.shard_dir, extra), plan.manifest_path, _todo(plan))
        )
    total = 0
    for name, size, digest in listed:
        path = os.path.join(plan.shard_dir, name)
        found = os.path.getsize(path) if os.path.isfile(path) else None
        if found != size:
            what = "is missing" if found is None else "has %d bytes" % found
            raise DataChanged(
                "%s shard %s %s but %s says %d: it changed after it was listed; %s"
                % (split, path, what, plan.manifest_path, size, _todo(plan))
            )
        if full:
            found_digest = atomic.sha256_file(path, HASH_CHUNK)
            if found_digest != digest:
                raise DataChanged(
                    "%s shard %s has sha256 %s but %s says %s: it changed after it "
                    "was listed; %s"
                    % (split, path, found_digest, plan.manifest_path, digest, _todo(plan))
                )
        total += size
    record = {
        "split": split,
        "check": "sha256" if full else "size",
        "shards": len(listed),
        "bytes": total,
    }
    log.info(
        "%s shards in %s match %s (%s of %d shards, %d bytes, %.2f s)",
        split,
        plan.shard_dir,
        plan.manifest_path,
        record["check"],
        record["shards"],
        total,
        time.time() - t0,
    )
    return record
