"""`resnext npu-check`: the six items in order, each timed and ended in PASS, FAIL or SKIP, and
<out>/npu-check.json (written atomically). The tiny runs work in <out>/work-*/ (made here,
removed at the end); item logs stay in <out>/logs/. Python 3.7 (it runs in the Ascend container).
"""

import logging
import os
import shutil
import tempfile
import time

from resnext import paths
from resnext.npucheck import host, outcome, runs, tiny
from resnext.npucheck.outcome import FAIL, ITEMS, PASS, Skip

log = logging.getLogger(__name__)


class _State:
    """What the items share: the folders, the bridge (item 2), item 3's checkpoint."""

    def __init__(self, cfg, out_dir, work):
        self.cfg, self.out, self.work = cfg, out_dir, work
        self.fake, self.bridge_error, self.checkpoint = False, None, None
        self.shards = None

    def tiny(self, run_name, **changes):
        """A tiny config on the check's shards (written once), its shards indexed."""
        from resnext.data import index

        if self.shards is None:
            self.shards = tiny.write_shards(os.path.join(self.work, "shards"))
        cfg = tiny.config(
            self.cfg, os.path.join(self.work, "runs"), self.shards, run_name, **changes
        )
        index.index(cfg)
        return cfg

    def need_bridge(self):
        if self.bridge_error:
            raise Skip("npu_bridge is not importable (item 2)")


def _software(state):
    try:
        detail, state.fake = host.software_item()
    except outcome.Failed as exc:
        state.bridge_error = str(exc)
        raise
    return detail


def _one_device(state):
    state.need_bridge()
    cfg = state.tiny("one")
    detail = runs.one_device_item(cfg, host.check_devices(state.cfg)[0])
    state.checkpoint = (cfg, paths.ckpt_prefix(cfg.train_dir, tiny.LOOP))
    return detail


def _two_devices(state):
    from resnext.npucheck import ranks

    state.need_bridge()
    servers = host.two_device_servers(state.cfg, state.fake)
    cfg = state.tiny("two", rank_size=ranks.RANKS)
    return ranks.two_device_item(cfg, servers)


def _eval_export(state):
    state.need_bridge()
    if state.checkpoint is None:
        raise Skip("needs item 3's checkpoint, which item 3 did not save")
    cfg, prefix = state.checkpoint
    return runs.eval_export_item(cfg, prefix)


def _rank_table(state):
    return host.rank_table_item(state.cfg, paths.npu_check_rank_table(state.out))


RUNNERS = {
    "versions": lambda s: host.versions_item(paths.npu_check_logs(s.out)),
    "software": _software,
    "one-device": _one_device,
    "two-devices": _two_devices,
    "eval-export": _eval_export,
    "rank-table": _rank_table,
}


def run(cfg, out_dir, only=(), on_item=None):
    """Run the items (all, or those named in `only`; item 2 always, it finds the bridge) and write
    <out_dir>/npu-check.json; -> its record. on_item(result) is called as each item ends."""
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t0 = time.time()
    logs = paths.npu_check_logs(out_dir)
    os.makedirs(logs, exist_ok=True)
    outcome.refuse_unsafe_logs(logs)
    work = tempfile.mkdtemp(prefix="work-", dir=out_dir)  # ours alone: removed at the end
    state, results = _State(cfg, out_dir, work), []
    try:
        for number, name, title in ITEMS:
            if only and name not in only and name != "software":
                continue
            result = outcome.run_item(number, name, title, lambda: RUNNERS[name](state), logs)
            if name == "software" and state.fake:
                result["note"] = outcome.FAKE_NOTE
            results.append(result)
            if on_item is not None:
                on_item(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record = outcome.write_record(
        paths.npu_check_record(out_dir), results, state.fake, started, time.time() - t0
    )
    log.info(
        "npu-check: %s -> %s",
        "PASS" if record["passed"] else "FAIL (%s)" % ", ".join(record["failed"]),
        paths.npu_check_record(out_dir),
    )
    return record


def summary_lines(record):
    """The closing console lines: the verdict, and the fake's warning when it stood in."""
    lines = []
    if record["fake_npu_bridge"]:
        lines.append("NOTE: " + outcome.FAKE_NOTE)
    failed = record["failed"]
    lines.append("npu-check: %s" % (PASS if not failed else "%s (%s)" % (FAIL, ", ".join(failed))))
    return lines
