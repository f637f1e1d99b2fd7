"""Numbers derived from the results: the seed-format eval table, throughput per block, times.

Throughput convention: `images_per_sec_loops` in a block record lists every logged loop of the
block (all ranks together); its first `warmup_loops_excluded` entries are warm-up and are left
out of the mean and jitter. Per-device figures divide by the block's rank_size.
"""

from __future__ import annotations

import dataclasses
import math

from resnext import intervals
from resnext.report import fmt

# the seed's columns, then the 95% Wilson intervals (percent) of top-1 and top-5
EVAL_TABLE_HEADER = "step   epoch top1   top5 loss checkpoint_time(UTC) top1_95ci top5_95ci"


def interval_text(rec, key, decimals=3):
    """'[77.434, 78.162]' (percent): the 95% interval of rate `key` of eval record `rec`, or n/a."""
    interval = intervals.rate_interval(rec, key)
    if interval is None:
        return fmt.NA
    return "[%s, %s]" % (fmt.pct(interval[0], decimals), fmt.pct(interval[1], decimals))


def eval_table_text(evals):
    """The seed's evaluation table: one row per checkpoint, sorted by step, percent accuracies."""
    lines = [EVAL_TABLE_HEADER]
    for rec in sorted(evals, key=lambda r: r["step"]):
        lines.append(
            "%d %s %s %s %s %s %s %s"
            % (
                rec["step"],
                fmt.num(rec["epoch"], 1),
                fmt.pct(rec["top1"], 3),
                fmt.pct(rec["top5"], 2),
                fmt.num(rec["loss"], 2),
                fmt.utc_text((rec.get("checkpoint") or {}).get("time_utc")),
                interval_text(rec, "top1").replace(" ", ""),
                interval_text(rec, "top5", 2).replace(" ", ""),
            )
        )
    return "\n".join(lines) + "\n"


@dataclasses.dataclass
class BlockThroughput:
    block: int
    start_step: int
    end_step: int
    rank_size: int
    loops_used: int
    warmup_loops: int
    mean: float | None  # images/s, all ranks, over the loops used
    jitter: float | None  # sample standard deviation of the loops used
    whole_block: float | None  # images/s over the whole block (incl. warm-up)
    wall_time_s: float | None

    @property
    def per_device(self):
        return None if self.mean is None else self.mean / max(1, self.rank_size)

    @property
    def jitter_percent(self):
        if self.mean in (None, 0) or self.jitter is None:
            return None
        return 100.0 * self.jitter / self.mean


def mean_std(values):
    """(mean, sample standard deviation; 0 for one value), or (None, None) for none."""
    if not values:
        return None, None
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    var = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def kept_loops(block):
    loops = [float(v) for v in block.get("images_per_sec_loops") or []]
    warm = int(block.get("warmup_loops_excluded") or 0)
    return loops[warm:]


def block_throughput(block):
    kept = kept_loops(block)
    mean, std = mean_std(kept)
    if mean is None and block.get("images_per_sec") is not None:
        mean, std = float(block["images_per_sec"]), None  # no loop left after warm-up
    return BlockThroughput(
        block=block.get("block"),
        start_step=block.get("start_step"),
        end_step=block.get("end_step"),
        rank_size=int(block.get("rank_size") or 1),
        loops_used=len(kept),
        warmup_loops=int(block.get("warmup_loops_excluded") or 0),
        mean=mean,
        jitter=std,
        whole_block=block.get("images_per_sec"),
        wall_time_s=block.get("wall_time_s"),
    )


def overall_throughput(blocks):
    """Pooled post-warm-up loops of all blocks -> (mean all ranks, jitter, per device, loops),
    or Nones."""
    values, ranks = [], set()
    for block in blocks:
        values.extend(kept_loops(block))
        ranks.add(int(block.get("rank_size") or 1))
    mean, std = mean_std(values)
    if mean is None:
        return None
    rank_size = max(ranks)
    return {
        "images_per_sec": mean,
        "jitter": std,
        "loops": len(values),
        "rank_size": rank_size,
        "images_per_sec_per_device": mean / rank_size,
    }


def time_to_train(blocks):
    """Sum of the blocks' wall times (s), or None without blocks."""
    times = [b.get("wall_time_s") for b in blocks if b.get("wall_time_s") is not None]
    return math.fsum(times) if times else None


def training_time_until(blocks, step):
    """Block wall time spent reaching `step`: whole blocks before it,
    a pro-rata share of its block."""
    total = 0.0
    for block in blocks:
        start, end, wall = block["start_step"], block["end_step"], block.get("wall_time_s") or 0.0
        if step >= end:
            total += wall
        elif step > start:
            total += wall * (step - start) / float(max(1, end - start))
    return total


def time_to_target(evals, blocks, target_percent):
    """First evaluation (by step) with top-1 >= target_percent, with the training time to it;
    or None."""
    for rec in sorted(evals, key=lambda r: r["step"]):
        if 100.0 * rec["top1"] >= target_percent:
            seconds = training_time_until(blocks, rec["step"]) if blocks else None
            return {
                "step": rec["step"],
                "epoch": rec["epoch"],
                "top1": rec["top1"],
                "target_percent": target_percent,
                "training_time_s": seconds,
            }
    return None


def accuracy_rows(evals):
    """Rows for the accuracy-per-epoch table (strings)."""
    rows = []
    for rec in sorted(evals, key=lambda r: r["step"]):
        rows.append(
            [
                fmt.num(rec["epoch"], 2),
                str(rec["step"]),
                fmt.pct(rec["top1"], 3),
                interval_text(rec, "top1"),
                fmt.pct(rec["top5"], 2),
                interval_text(rec, "top5", 2),
                fmt.num(rec["loss"], 3),
                str(rec.get("num_images", fmt.NA)),
                fmt.num(rec.get("images_per_sec"), 1),
            ]
        )
    return rows


def throughput_rows(stats):
    rows = []
    for s in stats:
        jitter = (
            fmt.NA
            if s.jitter is None
            else "%s (%s%%)" % (fmt.num(s.jitter, 1), fmt.num(s.jitter_percent, 1))
        )
        rows.append(
            [
                str(s.block),
                "%s-%s" % (s.start_step, s.end_step),
                str(s.rank_size),
                str(s.loops_used),
                str(s.warmup_loops),
                fmt.num(s.mean, 1),
                jitter,
                fmt.num(s.per_device, 1),
                fmt.num(s.whole_block, 1),
                fmt.num(s.wall_time_s, 1),
            ]
        )
    return rows
