"""`resnext <stage>`: the only place that parses argv.
Each stage loads one Config and calls a library function. Python 3.7 (the container runs
train-rank/evaluate/export through here too).
"""

import argparse
import json
import logging
import math
import os
import sys

from resnext import paths
from resnext.config import ConfigError, is_resolved, load_config, load_resolved

log = logging.getLogger("resnext.cli")


def _add_config_args(p):
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="YAML",
        help="config file(s), later ones override earlier (default config/config.yaml)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one key (value parsed as YAML); repeatable",
    )


def _config(args):
    """(Config, the last file given). One file that write_resolved wrote, with no --set, is the
    workflow's resolved config: trusted as written (load_resolved checks its sha256). Anything else
    is validated."""
    files = args.config or ["config/config.yaml"]
    if len(files) == 1 and not args.overrides and is_resolved(files[0]):
        return load_resolved(files[0]), files[0]
    return load_config(files, args.overrides), files[-1]


def _cmd_resolve_config(args):
    from resnext.config import write_resolved

    cfg, _ = _config(args)
    digest = write_resolved(cfg, args.out)
    log.info("resolved config -> %s (sha256 %s)", args.out, digest)


def _cmd_demo_data(args):
    from resnext.data.demo import write_demo_tree

    cfg, _ = _config(args)
    out = args.out or cfg.source_path
    write_demo_tree(out, cfg.demo_image_size, cfg.demo_val_fraction, cfg.seed)


def _verify_data(cfg):
    """`convert --verify` / `index --verify`: re-read every shard the manifest lists; exit 1 naming
    each problem."""
    from resnext.data import convert

    problems = convert.verify(cfg)
    for p in problems:
        log.error("%s", p)
    if problems:
        raise SystemExit(1)
    log.info("every shard in %s matches its manifest", cfg.data_dir)


def _data_stage(args, run):
    """convert / index: `run(cfg)`, or --verify. A ValueError (a malformed label, ground-truth or
    box file, a refused record, no known shard layout) names its file: one line, exit 2."""
    cfg, _ = _config(args)
    if args.verify:
        _verify_data(cfg)
        return
    try:
        run(cfg)
    except ValueError as exc:
        raise ConfigError(str(exc))


def _cmd_convert(args):
    from resnext.data import convert

    _data_stage(args, convert.convert)


def _cmd_index(args):
    from resnext.data import index

    _data_stage(args, index.index)


def _cmd_summary(args):
    from resnext.model.summary import summarize

    cfg, _ = _config(args)
    print(
        json.dumps(
            summarize(cfg.arch, cfg.image_size, cfg.num_classes, cfg.grouped_conv), sort_keys=True
        )
    )


def _cmd_schedule(args):
    from resnext.train.schedule import evaluate_schedule

    cfg, _ = _config(args)
    steps = [int(s) for s in args.at.split(",") if s.strip()]
    print(json.dumps({str(s): lr for s, lr in zip(steps, evaluate_schedule(cfg, steps))}))


def _cmd_train(args):
    from resnext.train import launch

    cfg, path = _config(args)
    # ranks must see exactly this config: with several files or --set,
    # launch hands them a resolved copy
    given = path if args.config and len(args.config) == 1 and not args.overrides else None
    launch.train(cfg, given, args.until_step)


def _cmd_train_rank(args):
    from resnext.train import rankenv

    cfg, _ = _config(args)
    cfg, rank, size = rankenv.join(cfg)  # under SLURM from the step's env: refused before TF
    from resnext.backends import get_backend
    from resnext.train.loop import train_block
    from resnext.train.preflight import check_train_data

    check_train_data(
        cfg
    )  # before the backend joins its peers; also when started without the launcher
    if size != cfg.rank_size:
        raise ConfigError(
            "RANK_SIZE=%d in the environment but rank_size is %d" % (size, cfg.rank_size)
        )
    train_block(cfg, args.until_step, get_backend(cfg, rank, size))


def _cmd_evaluate(args):
    from resnext.evaluate import evaluate

    cfg, _ = _config(args)
    evaluate(cfg, _strip_index(args.checkpoint), args.out)


def _cmd_export(args):
    from resnext.export import export

    cfg, _ = _config(args)
    prefix = args.checkpoint or paths.ckpt_prefix(cfg.train_dir, cfg.train_steps)
    export(cfg, _strip_index(prefix), args.out_dir)


def _cmd_report(args):
    from resnext.report import build_report

    cfg, _ = _config(args)
    build_report(cfg, args.out_dir)


def _cmd_ranktable(args):
    from resnext import ranktable

    cfg, _ = _config(args)
    if args.slurm_entry:  # one task of the step `resnext train` runs to build an NPU job's table
        from resnext.train import rankenv

        entry = rankenv.slurm_table_entry(cfg, rankenv.slurm_placement(cfg))
        print(json.dumps(entry, sort_keys=True))
        return
    if args.check:
        ranktable.load_table(args.check, cfg.rank_size)
        log.info("%s is a valid rank table for rank_size %d", args.check, cfg.rank_size)
        return
    table = ranktable.table_for_config(cfg, discover=args.discover, fmt=args.format)
    out = args.out or paths.rank_table(cfg.train_dir)
    ranktable.write_table(out, table)
    log.info(
        "rank table (%s) for %d device(s) -> %s", ranktable.table_format(table), cfg.rank_size, out
    )
    if args.env_for is not None:
        from resnext.train.rankenv import npu_rank_env

        env = npu_rank_env(cfg, args.env_for, table, os.path.abspath(out))
        print(json.dumps(env, sort_keys=True))


def _cmd_with_device(args):
    from resnext import devicepool

    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise ConfigError("with-device: give the command after --")
    cfg, _ = _config(args)
    ids, pool = _with_device_args(args, cfg)
    try:
        code = devicepool.run_with_devices(
            pool, ids, argv, count=args.count, timeout_s=args.timeout
        )
    except devicepool.PoolTimeout as exc:
        log.error("%s", exc)
        code = 3
    raise SystemExit(code)


def _with_device_args(args, cfg):
    """(device ids, pool folder) of `with-device`; ConfigError naming a bad argument."""
    from resnext import devicepool

    try:
        ids = devicepool.parse_ids(args.devices) if args.devices else list(cfg.npu_device_ids)
    except ValueError as exc:
        raise ConfigError("with-device --devices %r: %s" % (args.devices, exc))
    if not 1 <= args.count <= len(ids):
        raise ConfigError(
            "with-device --count %d: give 1..%d (the devices %s)"
            % (args.count, len(ids), ",".join(map(str, ids)))
        )
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout >= 0):
        raise ConfigError(
            "with-device --timeout %r: give seconds >= 0, or leave it out to wait "
            "for free devices as long as it takes" % args.timeout
        )
    pool = args.pool or paths.npu_pool(cfg.results_dir)
    if os.path.lexists(pool) and not os.path.isdir(pool):
        raise ConfigError(
            "with-device --pool %s: it exists and is not a folder; name a folder "
            "for the device lock files" % pool
        )
    return ids, pool


def _benchmark_argv(args, config_path, out):
    return [
        "--config",
        config_path,
        "--mode",
        args.mode,
        "--data",
        args.data,
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--out",
        out,
    ]


def _cmd_benchmark(args):
    """One rank in-process; several through the launcher (rank 0 writes the JSON)."""
    import shutil
    import tempfile
    from resnext import atomic
    from resnext.config import write_resolved
    from resnext.train import launch
    from resnext.train import preflight

    cfg, _ = _config(args)
    preflight.check_devices(cfg)
    out = args.out or paths.benchmark_json(
        cfg.run_dir, args.mode, args.data, cfg.rank_size, cfg.batch_size
    )
    work = tempfile.mkdtemp(prefix="resnext-bench-")
    try:  # ours alone (mkdtemp): removed however the ranks end; a failure shows the log tail
        config_path = os.path.join(work, "config.yaml")
        write_resolved(cfg, config_path)
        argv = [sys.executable, "-m", "resnext.cli", "benchmark-rank"] + _benchmark_argv(
            args, config_path, out
        )
        launch.supervise(cfg, argv, paths.train_logs(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(atomic.read_json(out), indent=2, sort_keys=True))


def _cmd_benchmark_rank(args):
    from resnext.train import rankenv

    cfg, _ = _config(args)
    cfg, rank, size = rankenv.join(cfg)
    from resnext import benchmark
    from resnext.backends import get_backend

    benchmark.run(
        cfg, get_backend(cfg, rank, size), args.mode, args.data, args.warmup, args.steps, args.out
    )


def _cmd_prune(args):
    from resnext import retention

    cfg, _ = _config(args)
    deleted = retention.prune(cfg)
    log.info("deleted %d checkpoint(s): %s", len(deleted), deleted)


def _cmd_verify(args):
    """`resnext verify RUN_DIR [--out JSON]`: every mismatch on its own line, exit 1 if there is
    one; --out also writes the outcome (written atomically, mismatches or not)."""
    from resnext import atomic, verify

    out = verify.verify(args.run_dir)
    if args.out:
        atomic.write_json(args.out, dict(out.as_dict(), run_dir=args.run_dir))
    for path in out.pruned:
        log.info("pruned by retention (not checked): %s", path)
    for m in out.mismatches:
        log.error("MISMATCH %s", m.line())
    log.info(
        "%d claim(s) checked, %d mismatch(es), %d pruned checkpoint(s), %.1f MB hashed",
        len(out.checked),
        len(out.mismatches),
        len(out.pruned),
        out.bytes_hashed / 1e6,
    )
    if not out.ok:
        raise SystemExit(1)


def _cmd_compare(args):
    """`resnext compare RUN_A RUN_B --out DIR` (resnext.compare)."""
    from resnext.compare import write_compare

    write_compare(args.run_a, args.run_b, args.out)


def _cmd_repeats(args):
    """`resnext repeats --out DIR --runs RUN... --compares DIR...` (resnext.compare.repeats)."""
    from resnext.compare.repeats import write_summary

    write_summary(args.runs, args.compares, args.out)


def _cmd_npu_check(args):
    """`resnext npu-check [--out DIR] [--item NAME ...]`: one line per item on stdout; exit 1 if
    an item FAILED."""
    cfg, _ = _config(args)
    out = args.out or paths.npu_check_dir(cfg.run_dir)
    if os.path.lexists(out) and not os.path.isdir(out):
        raise ConfigError(
            "npu-check --out %s is not a folder: give a folder (created if missing)" % out
        )
    from resnext.npucheck import outcome

    outcome.refuse_unsafe_logs(paths.npu_check_logs(out))
    from resnext.npucheck import check  # imports TensorFlow: after the checks above

    def show(result):
        for text in [outcome.line(result)] + outcome.tail_lines(result):
            print(text, flush=True)
        if result.get("note"):
            print("NOTE: " + result["note"], flush=True)

    record = check.run(cfg, out, args.item, show)
    for text in check.summary_lines(record):
        print(text)
    if not record["passed"]:
        raise SystemExit(1)


def _cmd_npu_check_rank(args):
    from resnext.npucheck import ranks

    cfg, _ = _config(args)
    ranks.rank_main(cfg, args.out)


def _strip_index(path):
    return path[: -len(paths.INDEX_SUFFIX)] if path.endswith(paths.INDEX_SUFFIX) else path


def _parser():
    parser = argparse.ArgumentParser(prog="resnext", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.required = True

    def cmd(name, func, help_text):
        p = sub.add_parser(name, help=help_text)
        _add_config_args(p)
        p.set_defaults(func=func)
        return p

    p = cmd("resolve-config", _cmd_resolve_config, "validate and write the resolved config")
    p.add_argument("--out", required=True)
    cmd("demo-data", _cmd_demo_data, "write the embedded digits as a JPEG tree").add_argument(
        "--out"
    )
    cmd("convert", _cmd_convert, "JPEG tree -> TFRecord shards + manifest").add_argument(
        "--verify", action="store_true", help="re-read every shard and check counts and sha256"
    )
    p = cmd("index", _cmd_index, "TF-slim or TFDS shards (data_url) -> manifest in the run folder")
    p.add_argument("--verify", action="store_true", help="re-read every shard, check it")
    cmd("summary", _cmd_summary, "print params and MACs of the configured architecture as JSON")
    cmd("schedule", _cmd_schedule, "print the lr at global steps as JSON").add_argument(
        "--at", required=True, help="comma-separated global steps"
    )
    for name, func in (("train", _cmd_train), ("train-rank", _cmd_train_rank)):
        p = cmd(
            name,
            func,
            "train all ranks to a block boundary"
            if name == "train"
            else "one rank of a training block (started by `resnext train`)",
        )
        p.add_argument("--until-step", type=int, required=True)
    p = cmd("evaluate", _cmd_evaluate, "evaluate one checkpoint -> eval/step-<step>.json")
    p.add_argument("--checkpoint", required=True, help="checkpoint prefix or its .index file")
    p.add_argument("--out", help="result JSON (default <run>/eval/step-<step>.json)")
    p = cmd("export", _cmd_export, "checkpoint -> frozen GraphDef + export.json")
    p.add_argument("--checkpoint", help="default: the final checkpoint")
    p.add_argument("--out-dir")
    for name, func in (("benchmark", _cmd_benchmark), ("benchmark-rank", _cmd_benchmark_rank)):
        p = cmd(
            name,
            func,
            "throughput/latency of the train step or inference, as JSON"
            if name == "benchmark"
            else "one rank of a benchmark (started by `resnext benchmark`)",
        )
        p.add_argument("--mode", choices=["train", "inference"], default="train")
        p.add_argument("--data", choices=["synthetic", "real"], default="synthetic")
        p.add_argument("--steps", type=int, default=20, help="timed steps (after warm-up)")
        p.add_argument("--warmup", type=int, default=5, help="untimed steps first")
        p.add_argument(
            "--out", help="result JSON (default <run>/benchmark/<mode>-<data>-<ranks>x<batch>.json)"
        )
    cmd(
        "prune",
        _cmd_prune,
        "apply keep_checkpoint_max (never deletes an unevaluated or the newest checkpoint)",
    )
    cmd("report", _cmd_report, "results -> report.md, eval_table.txt, audit.json").add_argument(
        "--out-dir"
    )
    p = cmd("verify", _cmd_verify, "re-check every hash and number a run's records claim")
    p.add_argument(
        "run_dir", metavar="RUN_DIR", help="the run folder (results/<run>), moved or not"
    )
    p.add_argument(
        "--out", metavar="JSON", help="also write the outcome there (e.g. <run>/verify.json)"
    )
    p = sub.add_parser("compare", help="what differs between two runs, with paired tests")
    p.set_defaults(func=_cmd_compare)
    p.add_argument("run_a", metavar="RUN_A", help="a run folder (results/<run>)")
    p.add_argument("run_b", metavar="RUN_B", help="the run folder to compare with RUN_A")
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="folder for compare.{md,html,json}, runs.csv, steps.csv and the plots",
    )
    p = sub.add_parser("repeats", help="summary of the repeats of one config (snakemake repeats)")
    p.set_defaults(func=_cmd_repeats)
    p.add_argument("--out", required=True, metavar="DIR", help="folder for summary.{md,json,csv}")
    p.add_argument("--runs", nargs="+", required=True, metavar="RUN", help="the repeat run folders")
    p.add_argument(
        "--compares",
        nargs="*",
        default=[],
        metavar="DIR",
        help="`resnext compare` output folders of the pairs",
    )
    p = cmd("ranktable", _cmd_ranktable, "write (or --check) the HCCL rank table of an NPU run")
    p.add_argument("--out", help="default <run>/train/rank_table.json")
    p.add_argument(
        "--format", choices=["server_list", "group_list"], help="default: rank_table_format"
    )
    p.add_argument(
        "--discover",
        action="store_true",
        help="device IPs of this host (/etc/hccn.conf, hccn_tool) instead of npu_servers",
    )
    p.add_argument(
        "--check", metavar="JSON", help="only validate this rank table against rank_size"
    )
    p.add_argument(
        "--env-for", type=int, metavar="RANK", help="also print that rank's device env as JSON"
    )
    p.add_argument(
        "--slurm-entry",
        action="store_true",
        help="as a task of an srun step: print this task's rank table entry as JSON",
    )
    p = cmd(
        "with-device",
        _cmd_with_device,
        "run a command holding NPU(s) from the lock-file pool (sets ASCEND_DEVICE_ID/DEVICE_ID)",
    )
    p.add_argument(
        "--pool", help="lock folder shared by all jobs (default <results_dir>/.npu-pool)"
    )
    p.add_argument("--devices", help="ids to draw from, e.g. 0-7 (default npu_device_ids)")
    p.add_argument("--count", type=int, default=1, help="devices to hold (default 1)")
    p.add_argument(
        "--timeout", type=float, help="seconds to wait for free devices (default: forever)"
    )
    p.add_argument(
        "argv", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="the command to run"
    )
    _npu_check_parsers(cmd)
    return parser


def _npu_check_parsers(cmd):
    from resnext.npucheck.outcome import NAMES

    p = cmd(
        "npu-check",
        _cmd_npu_check,
        "first-run check of an Ascend server (README: Running on Ascend)",
    )
    p.add_argument("--out", metavar="DIR", help="default <run>/npu-check")
    p.add_argument(
        "--item",
        action="append",
        default=[],
        choices=NAMES,
        help="run only this item (repeatable; the software item always runs)",
    )
    cmd("npu-check-rank", _cmd_npu_check_rank, "one rank of npu-check's 2-device run").add_argument(
        "--out", required=True
    )


def _user_errors():
    """Exceptions that are the user's to fix: logged as one line, exit 2 (no traceback).

    Evaluated when an exception is being handled, so a stage that never imported the training loop
    (and TensorFlow with it) does not import it just to name TrainingDiverged.
    """
    from resnext.atomic import UnsafeFile
    from resnext.checkpoints import CheckpointError
    from resnext.data.identity import DataChanged
    from resnext.data.pixels import ImageTooLarge
    from resnext.data.tfrecord import CorruptRecordError
    from resnext.train.launch import RankFailed, RunLocked

    errors = (
        ConfigError,
        FileNotFoundError,
        RankFailed,
        RunLocked,
        CorruptRecordError,
        UnsafeFile,
        CheckpointError,
        DataChanged,
        ImageTooLarge,
    )
    report = sys.modules.get("resnext.report.collect")
    if report is not None:  # only the report imports it (and matplotlib with it)
        errors += (report.ReportError,)
    compare = sys.modules.get("resnext.compare.runs")
    if compare is not None:  # only a compare imported it (it imports pandas and scipy)
        errors += (compare.CompareError,)
    loop = sys.modules.get("resnext.train.loop")
    return errors + ((loop.TrainingDiverged, loop.CheckpointSaveFailed) if loop is not None else ())


def main(argv=None):
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except _user_errors() as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted; all ranks stopped")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
