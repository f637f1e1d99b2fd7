"""Item 4 of `resnext npu-check`: a 2-device run with HCCL broadcast and all-reduce, through the
real launcher (train.launch.supervise: one process per device, env from the rank table) and the
training session of train.loop, then a comparison of the two ranks' variables.

Each rank (`resnext npu-check-rank`, rank_main) starts from its own initial weights (seed + rank),
so only the broadcast from rank 0 can make them equal; it saves its variables right after the
session opened (init + broadcast) and after 2 device loops of LOOP steps on its own shard (rank r
reads train shard r), so only the gradient all-reduce keeps them equal. The check requires: every
float variable equal after the broadcast; every trainable variable and optimizer slot equal (to
float tolerance) after training, and moved; global_step 2 * LOOP on both. Batch-norm moving
statistics are left out after training: each rank averages its own batches (as on the device).
Python 3.7, TF 1.15 API (it runs in the Ascend container).
"""

import io
import logging
import math
import os
import sys

import numpy as np

from resnext import atomic, paths, ranktable
from resnext.compat import tf
from resnext.config import write_resolved
from resnext.npucheck.outcome import Failed, tail_of
from resnext.npucheck.tiny import LOOP

log = logging.getLogger(__name__)
RANKS = 2
TOLERANCE = 1e-5  # relative, after training: the same averaged update applied on each device
LOCAL_STATISTICS = ("moving_mean", "moving_variance")


def _values(run):
    """(names, [numpy]) of every float global variable of the session's graph."""
    with run.graph.as_default():
        variables = [v for v in tf.global_variables() if v.dtype.base_dtype.is_floating]
    return [v.op.name for v in variables], run.sess.run(variables)


def rank_main(cfg, out_dir):
    """One rank of item 4 (env RANK_ID/RANK_SIZE from the launcher): train 2 device loops, save
    its variables after the broadcast and after training to <out_dir>/rank-<r>.npz."""
    from resnext.backends import get_backend
    from resnext.train import loop, preflight

    rank, size = int(os.environ.get("RANK_ID", "0")), int(os.environ.get("RANK_SIZE", "1"))
    cfg = cfg.replace(seed=cfg.seed + rank)  # other initial weights on every rank
    preflight.check_train_data(cfg)
    backend = get_backend(cfg, rank, size)
    with loop._session(cfg, backend, 0) as run:
        names, broadcast = _values(run)
        loss, _, _, step = run.run_steps(2 * LOOP)
        _, trained = _values(run)
    buffer = io.BytesIO()
    arrays = {"b%d" % i: v for i, v in enumerate(broadcast)}
    arrays.update({"t%d" % i: v for i, v in enumerate(trained)})
    np.savez(buffer, names=np.array(names), step=step, loss=loss, **arrays)
    atomic.write_bytes(paths.npu_check_rank_values(out_dir, rank), buffer.getvalue())
    log.info(
        "rank %d/%d: step %d, loss %.4f, %d variables saved", rank, size, step, loss, len(names)
    )


def _load(out_dir, rank):
    with np.load(paths.npu_check_rank_values(out_dir, rank)) as data:
        names = [str(n) for n in data["names"]]
        broadcast = [data["b%d" % i] for i in range(len(names))]
        trained = [data["t%d" % i] for i in range(len(names))]
        return names, broadcast, trained, int(data["step"]), float(data["loss"])


def _differ(names, a, b, tolerance):
    """[(name, max |a - b|)] of the variables that differ by more than tolerance * (1 + max|a|)."""
    out = []
    for name, x, y in zip(names, a, b):
        diff = float(np.max(np.abs(x - y))) if x.size else 0.0
        if not diff <= tolerance * (1.0 + float(np.max(np.abs(x)) if x.size else 0.0)):
            out.append((name, diff))
    return out


def _describe(found, total, when):
    shown = ", ".join("%s (max |diff| %.3g)" % item for item in found[:3])
    return "%d of %d variables differ between rank 0 and rank 1 %s: %s" % (
        len(found),
        total,
        when,
        shown,
    )


def compare(out_dir):
    """-> detail; Failed naming the variables that differ across the ranks."""
    names, b0, t0, step0, loss0 = _load(out_dir, 0)
    names1, b1, t1, step1, loss1 = _load(out_dir, 1)
    if names1 != names:
        raise Failed(
            "the ranks built different graphs (%d vs %d variables)" % (len(names), len(names1))
        )
    found = _differ(names, b0, b1, 0.0)
    if found:
        raise Failed(_describe(found, len(names), "after the HCCL broadcast from rank 0"))
    kept = [
        i for i, n in enumerate(names) if not n.endswith(LOCAL_STATISTICS) and n != "global_step"
    ]
    pick = lambda values: [values[i] for i in kept]  # noqa: E731
    found = _differ(pick(names), pick(t0), pick(t1), TOLERANCE)
    if found:
        raise Failed(
            _describe(found, len(kept), "after %d steps with the HCCL all-reduce" % (2 * LOOP))
        )
    if (
        step0 != 2 * LOOP
        or step1 != 2 * LOOP
        or not (math.isfinite(loss0) and math.isfinite(loss1))
    ):
        raise Failed(
            "after 2 device loops of %d: global_step %d and %d, loss %s and %s"
            % (LOOP, step0, step1, loss0, loss1)
        )
    moved = sum(1 for i in kept if not np.array_equal(b0[i], t0[i]))
    if not moved:
        raise Failed(
            "no weight changed in %d steps: the comparison would prove nothing" % (2 * LOOP)
        )
    return (
        "2 ranks: %d variables equal after the broadcast, %d weights and slots equal after %d "
        "steps (%d moved), loss %.3f / %.3f" % (len(names), len(kept), step0, moved, loss0, loss1)
    )


def two_device_item(cfg, servers):
    """Item 4 -> detail. cfg: the tiny config with rank_size 2 (its shards indexed); servers: the
    2 devices (host.two_device_servers). The ranks' table, config, logs and variables go where a
    training run's do (its train folder); rank 0's progress is echoed to stderr, as in training."""
    from resnext.train import launch

    train = cfg.train_dir
    fmt = cfg.rank_table_format
    table = ranktable.write_table(
        paths.rank_table(train), ranktable.build_table(servers, fmt, RANKS)
    )
    cfg = cfg.replace(rank_table_file=table)
    config_path = paths.ranks_config(train)
    write_resolved(cfg, config_path)
    argv = [sys.executable, "-m", "resnext.cli", "npu-check-rank"]
    argv += ["--config", config_path, "--out", train]
    logs = paths.train_logs(train)
    try:
        launch.supervise(cfg, argv, logs)  # the rank table's env per rank: rankenv.device_env
    except launch.RankFailed as exc:
        first = str(exc).splitlines()[0]
        tails = [tail_of(paths.rank_log(logs, r), 10) for r in range(RANKS)]
        raise Failed(first, "\n".join("rank %d: %s" % (r, t) for r, t in enumerate(tails)))
    return compare(train)
