"""mllog.txt: the run in MLPerf's `:::MLLOG` format, written through the mlperf-logging package.

Every line's time_ms comes from the result JSON (block start/finish, evaluation times), never
from the clock, so the file can be rebuilt from the results. The order is logical (init, run,
blocks and evaluations in time order, run_stop).
The result is checked with the package's compliance checker (`check_compliance`).

Facts the workflow does not record are logged as such: there is no separate init phase
(init_start = init_stop = run_start = first block start) and caches are not cleared
(cache_clear = false).
"""

from __future__ import annotations

import io
import logging
import os

from mlperf_logging.mllog import constants as K
from mlperf_logging.mllog import mllog as _mlperf

from resnext.report import fmt

log = logging.getLogger(__name__)

# mlperf-logging defines no generic momentum key; this is the name its ResNet SGD rules use.
SGD_MOMENTUM_KEY = "sgd_opt_momentum"
_SRC_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Writer:
    """An MLLogger that writes into a string buffer, with helpers taking UTC text times."""

    def __init__(self):
        self.buffer = io.StringIO()
        handler = logging.StreamHandler(self.buffer)
        handler.setFormatter(logging.Formatter("%(message)s"))
        self.logger = logging.Logger("resnext.report.mllog.%d" % id(self))
        self.logger.addHandler(handler)
        self.logger.propagate = False
        self.ml = _mlperf.MLLogger(logger=self.logger, root_dir=_SRC_ROOT, default_stack_offset=2)

    def event(self, key, value, time_ms, metadata=None):
        self.ml.event(key=key, value=value, time_ms=time_ms, metadata=metadata)

    def start(self, key, time_ms, metadata=None):
        self.ml.start(key=key, value=None, time_ms=time_ms, metadata=metadata)

    def end(self, key, time_ms, metadata=None):
        self.ml.end(key=key, value=None, time_ms=time_ms, metadata=metadata)

    def text(self):
        return self.buffer.getvalue()


def _run_times(results):
    """(start ms, stop ms): first block start (else first evaluation),
    last of block finish / evaluation."""
    starts = [fmt.utc_ms(b.get("started_utc")) for b in results.blocks]
    ends = [fmt.utc_ms(b.get("finished_utc")) for b in results.blocks]
    ends += [fmt.utc_ms(e.get("evaluated_utc")) for e in results.evals]
    starts = [t for t in starts if t is not None] or [t for t in ends if t is not None] or [0]
    ends = [t for t in ends if t is not None] or starts
    return min(starts), max(ends)


def _header(w, cfg, results, settings, t0):
    platform = "%sx%s" % (cfg.rank_size, cfg.backend)
    for key, value in (
        (K.SUBMISSION_BENCHMARK, settings.get("benchmark", K.RESNET)),
        (K.SUBMISSION_DIVISION, settings.get("division", K.OPEN)),
        (K.SUBMISSION_STATUS, settings.get("status", K.RESEARCH)),
        (K.SUBMISSION_ORG, settings.get("org", "resnext-reproduction (unofficial)")),
        (K.SUBMISSION_PLATFORM, platform),
    ):
        w.event(key, value, t0)
    w.event(K.CACHE_CLEAR, False, t0)
    w.start(K.INIT_START, t0)
    _hyperparameters(w, cfg, results, t0)
    w.end(K.INIT_STOP, t0)


def _hyperparameters(w, cfg, results, t0):
    manifest_train = ((results.manifest or {}).get("splits") or {}).get("train") or {}
    for key, value in (
        (K.SEED, cfg.seed),
        (K.GLOBAL_BATCH_SIZE, cfg.global_batch),
        (K.GRADIENT_ACCUMULATION_STEPS, 1),
        (K.OPT_NAME, K.SGD),
        (K.OPT_BASE_LR, cfg.learning_rate_maximum),
        (K.OPT_END_LR, cfg.learning_rate_end),
        (K.OPT_LR_WARMUP_EPOCHS, cfg.warmup_epochs),
        (K.OPT_LR_DECAY_SCHEDULE, cfg.lr_decay_mode),
        (K.OPT_WEIGHT_DECAY, cfg.weight_decay),
        (SGD_MOMENTUM_KEY, cfg.momentum),
        (K.MODEL_BN_SPAN, cfg.batch_size),
        (K.TRAIN_SAMPLES, manifest_train.get("num_images", cfg.num_train_images)),
        (K.EVAL_SAMPLES, results.evals[-1].get("num_images")),
    ):
        w.event(key, value, t0)


def _block_meta(cfg, block):
    first = cfg.epoch_at(block["start_step"])
    return {
        K.FIRST_EPOCH_NUM: round(first, 4),
        K.EPOCH_COUNT: round(cfg.epoch_at(block["end_step"]) - first, 4),
        K.SAMPLES_COUNT: block["start_step"] * cfg.global_batch,
        K.STEP_NUM: block["start_step"],
    }


def _eval_line(cfg, rec, fallback_ms):
    meta = {
        K.EPOCH_NUM: rec["epoch"],
        K.STEP_NUM: rec["step"],
        K.SAMPLES_COUNT: rec["step"] * cfg.global_batch,
        "top5": rec["top5"],
    }
    return (
        fmt.utc_ms(rec.get("evaluated_utc")) or fallback_ms,
        "event",
        K.EVAL_ACCURACY,
        rec["top1"],
        meta,
    )


def _body_lines(cfg, results, t0):
    """Block intervals and evaluations as (time_ms, kind, key, value, metadata), in time order.

    An evaluation without a readable time is placed at the end of the block that
    wrote its checkpoint.
    """
    lines, pending, last_ms = [], list(results.evals), t0
    for block in results.blocks:
        start = fmt.utc_ms(block.get("started_utc")) or last_ms
        last_ms = fmt.utc_ms(block.get("finished_utc")) or start
        meta = _block_meta(cfg, block)
        lines += [
            (start, "start", K.BLOCK_START, None, meta),
            (last_ms, "end", K.BLOCK_STOP, None, meta),
        ]
        while pending and pending[0]["step"] <= block["end_step"]:
            lines.append(_eval_line(cfg, pending.pop(0), last_ms))
    lines += [
        _eval_line(cfg, rec, last_ms) for rec in pending
    ]  # checkpoints beyond the last block record
    return sorted(lines, key=lambda line: line[0])  # stable: equal times keep the logical order


def _body(w, cfg, results, t0):
    for time_ms, kind, key, value, meta in _body_lines(cfg, results, t0):
        if kind == "event":
            w.event(key, value, time_ms, meta)
        elif kind == "start":
            w.start(key, time_ms, meta)
        else:
            w.end(key, time_ms, meta)


def build_mllog(cfg, results, settings, success):
    """The mllog.txt text for a run; `success` sets run_stop's status (target accuracy reached)."""
    t0, t1 = _run_times(results)
    w = _Writer()
    _header(w, cfg, results, settings, t0)
    w.start(K.RUN_START, t0)
    _body(w, cfg, results, t0)
    w.end(K.RUN_STOP, t1, {K.STATUS: K.SUCCESS if success else K.ABORTED})
    return w.text()


def check_compliance(path, settings):
    """Run mlperf-logging's compliance checker on `path`: {'ruleset', 'valid', 'messages'}."""
    from mlperf_logging.compliance_checker import mlp_compliance  # noqa: PLC0415 - heavy, only here

    usage, ruleset = settings.get("usage", "training"), str(settings.get("ruleset", "4.0.0"))
    # module-level queue; a failed earlier run may leave entries
    mlp_compliance.enqueued_configs.clear()
    checker = mlp_compliance.make_checker(usage, ruleset, quiet=False, werror=False)
    try:
        valid = checker.check_file(path, "%s_%s/common.yaml" % (usage, ruleset))
        messages = list(checker.overwritable.values()) + list(checker.not_overwritable)
    except Exception as exc:  # noqa: BLE001 - the checker raises anything (e.g. a ruleset without the benchmark)
        valid, messages = False, ["compliance checker error: %s: %s" % (type(exc).__name__, exc)]
    finally:
        mlp_compliance.enqueued_configs.clear()
    log.info("mllog compliance (%s %s): %s", usage, ruleset, "accepted" if valid else "rejected")
    return {
        "usage": usage,
        "ruleset": ruleset,
        "division": settings.get("division", K.OPEN),
        "benchmark": settings.get("benchmark", K.RESNET),
        "valid": bool(valid),
        "messages": messages,
        "warnings": list(checker.warnings.values()),
    }
