"""Every path under results/<run>/ (and the data and source folders a run reads): the one owner.

The workflow's rules (through workflow/rules/common.smk) and the stages both build their paths
here, so a file the rules declare is the file the stage writes. Each function takes the folder it
lives in (a `str`) and returns a `str`; a step or block may be a Snakemake wildcard such as
"{step}", so numbers are formatted with %s. Layout:

    <results_dir>/.npu-pool/device-<id>.lock        NPU lock-file pool (shared by every run)
    <results_dir>/<run_name>/                       run_dir
        config.resolved.yaml                        every key, written once per run
        settings/<stage>.json                       the keys affecting a stage (the workflow's)
        source/                                     the demo's JPEG tree (source_dir: demo)
        data/manifest.json, data/<split>-NNNNN-...  the shards (unless data_url names a folder)
        train/ckpt/model.ckpt-<step>(.index ...)    checkpoints
        train/block-<b>.json, train/metrics.jsonl   training records
        train/done/step-<step>.json                 a finished block (the workflow's output)
        train/logs/rank-<r>.log, train/.lock        rank logs, the launcher's lock
        train/logs/srun.log                         srun's own messages (launcher slurm)
        train/rank_table.json, train/config.ranks.yaml
        eval/step-<step>.json (+ .predictions.npz)  one result per checkpoint
        export/<arch>.pb, export/export.json        the frozen graph and its record
        benchmark/<mode>-<data>-<ranks>x<batch>.json
        report/report.{html,md}, eval_table.txt, audit.json, mllog.txt, <plot>.png
        logs/<rule>.log                             Snakemake's job logs
        verify.json                                 `snakemake verify`'s outcome
        ro-crate-metadata.json, workflow/           the run's RO-Crate and the workflow it names
        npu-check/npu-check.json, npu-check/logs/   `resnext npu-check` (`snakemake npu_check`)
    <results_dir>/<run_name>-s<seed>/               one run of `snakemake repeats` (repeat_seeds)
    <results_dir>/<run_name>-repeats/               their summary.{md,json,csv}, compare-<a>-<b>/
    <out>/compare.{md,html,json}, runs.csv, steps.csv, <plot>.png   `resnext compare A B --out`

Python 3.7, no TensorFlow (it runs in the Ascend container).
"""

import os

RESOLVED_CONFIG = "config.resolved.yaml"
MANIFEST = "manifest.json"
CKPT_PREFIX = "model.ckpt"
INDEX_SUFFIX = ".index"  # a checkpoint's index file: the Saver writes it last
PREDICTIONS_SUFFIX = ".predictions.npz"
EXPORT_RECORD = "export.json"
# report/<file>: {output name: file name}; the names are the `report` rule's named outputs
REPORT_FILES = {
    "html": "report.html",
    "md": "report.md",
    "table": "eval_table.txt",
    "audit": "audit.json",
    "mllog": "mllog.txt",
}
PLOTS = ("accuracy", "loss", "lr", "throughput")
PLOT_FILES = tuple("%s.png" % plot for plot in PLOTS)  # report/<plot>.png


# -- the run and the folders it reads -------------------------------------------------------------


def run_dir(results_dir, run_name):
    return os.path.join(results_dir, run_name)


def npu_pool(results_dir):
    """The lock-file folder of the NPU pool: one per results_dir, shared by every run in it."""
    return os.path.join(results_dir, ".npu-pool")


def resolved_config(run):
    return os.path.join(run, RESOLVED_CONFIG)


def data_dir(run, data_url=None):
    """The shard folder: data_url when set (shards converted elsewhere), else <run>/data."""
    return data_url or os.path.join(run, "data")


def manifest(data):
    """<data>/manifest.json, which `resnext convert` writes last."""
    return os.path.join(data, MANIFEST)


def convert_lock(data):
    """<data>/.convert.lock: the flock of the `resnext convert` writing this folder."""
    return os.path.join(data, ".convert.lock")


def source_dir(run, source="demo"):
    """The JPEG tree convert reads: <run>/source for the demo, else the configured folder."""
    return os.path.join(run, "source") if source == "demo" else source


def demo_marker(source):
    """<source>/demo.json, written last by `resnext demo-data`."""
    return os.path.join(source, "demo.json")


def logs_dir(run):
    return os.path.join(run, "logs")


def rule_log(run, rule):
    """<run>/logs/<rule>.log: one Snakemake job's log."""
    return os.path.join(logs_dir(run), "%s.log" % rule)


# -- training -------------------------------------------------------------------------------------


def train_dir(run):
    return os.path.join(run, "train")


def ckpt_dir(train):
    return os.path.join(train, "ckpt")


def ckpt_prefix(train, step):
    """Checkpoint prefix for `step` (what Saver.save/restore take)."""
    return os.path.join(ckpt_dir(train), "%s-%s" % (CKPT_PREFIX, step))


def ckpt_index(train, step):
    """The .index file of step's checkpoint (see index_of)."""
    return index_of(ckpt_prefix(train, step))


def index_of(prefix):
    """<prefix>.index: written last by the Saver, so it marks a complete checkpoint."""
    return prefix + INDEX_SUFFIX


def block_record(train, block):
    return os.path.join(train, "block-%s.json" % block)


def block_done(train, step):
    """train/done/step-<step>.json: `resnext train` writes it last, once a checkpoint at or past
    `step` exists. The workflow's train_block output, never the checkpoint's .index: Snakemake
    deletes a job's outputs before it reruns it."""
    return os.path.join(train, "done", "step-%s.json" % step)


def metrics(train):
    return os.path.join(train, "metrics.jsonl")


def data_checks(train):
    """train/data-checks.jsonl: a line per block start, what the launcher verified of the shards."""
    return os.path.join(train, "data-checks.jsonl")


def recipe(train):
    """train/recipe.json: the training keys and train data the run was trained with."""
    return os.path.join(train, "recipe.json")


def train_logs(train):
    return os.path.join(train, "logs")


def rank_log(logs, rank):
    """<logs>/rank-<r>.log (logs: train_logs(), or a benchmark's own folder)."""
    return os.path.join(logs, "rank-%s.log" % rank)


def train_lock(train):
    """The launcher's flock file: one launcher trains a run at a time."""
    return os.path.join(train, ".lock")


def srun_log(logs):
    """<logs>/srun.log: srun's own messages when launcher slurm starts the ranks."""
    return os.path.join(logs, "srun.log")


def rank_table(train):
    return os.path.join(train, "rank_table.json")


def ranks_config(train):
    """The resolved copy the launcher hands its ranks when it was given several files or --set."""
    return os.path.join(train, "config.ranks.yaml")


# -- evaluation, export, benchmark, report --------------------------------------------------------


def eval_dir(run):
    return os.path.join(run, "eval")


def eval_json(run, step):
    """eval/step-<step>.json: evaluation writes it, retention and the report read it."""
    return os.path.join(eval_dir(run), "step-%s.json" % step)


def eval_predictions(eval_path):
    """eval/step-<step>.json -> eval/step-<step>.predictions.npz (beside it, in any folder)."""
    base = eval_path[: -len(".json")] if eval_path.endswith(".json") else eval_path
    return base + PREDICTIONS_SUFFIX


def export_dir(run):
    return os.path.join(run, "export")


def export_graph(export, arch):
    """export/<arch>.pb: the frozen GraphDef."""
    return os.path.join(export, "%s.pb" % arch)


def export_record(export):
    return os.path.join(export, EXPORT_RECORD)


def benchmark_dir(run):
    return os.path.join(run, "benchmark")


def benchmark_json(run, mode, data, ranks, batch):
    """benchmark/<mode>-<data>-<ranks>x<batch>.json (e.g. train-synthetic-8x32.json)."""
    return os.path.join(benchmark_dir(run), "%s-%s-%sx%s.json" % (mode, data, ranks, batch))


def crate_metadata(run):
    """<run>/ro-crate-metadata.json: the run as a Provenance Run Crate (the report writes it)."""
    return os.path.join(run, "ro-crate-metadata.json")


def verify_record(run):
    """<run>/verify.json: what `resnext verify` found (the workflow's verify target)."""
    return os.path.join(run, "verify.json")


def npu_check_dir(run):
    """<run>/npu-check/: `resnext npu-check`'s folder (the workflow's npu_check target)."""
    return os.path.join(run, "npu-check")


def npu_check_record(check):
    """<npu-check>/npu-check.json: every item of the check, its status, time and log tail."""
    return os.path.join(check, "npu-check.json")


def npu_check_logs(check):
    """<npu-check>/logs/: one log per item (<name>.log)."""
    return os.path.join(check, "logs")


def npu_check_rank_table(check):
    """<npu-check>/rank_table.json: the rank table of the devices the check found."""
    return os.path.join(check, "rank_table.json")


def npu_check_rank_values(train, rank):
    """<train>/rank-<r>.npz: the variables one rank of the check's 2-device run ends with."""
    return os.path.join(train, "rank-%d.npz" % rank)


def stage_settings(run, stage):
    """settings/<stage>.json: the keys affecting a stage (config.STAGES), their values and sha256;
    rewritten only when one of them changes, the workflow's input of that stage's jobs."""
    return os.path.join(run, "settings", "%s.json" % stage)


def report_dir(run):
    return os.path.join(run, "report")


def report_file(report, name):
    """report/<file> of an output name in REPORT_FILES ('md' -> report/report.md)."""
    return os.path.join(report, REPORT_FILES[name])


def plot_file(report, plot):
    """report/<plot>.png of a name in PLOTS."""
    return os.path.join(report, PLOT_FILES[PLOTS.index(plot)])


# -- compare and repeats --------------------------------------------------------------------------

# `resnext compare --out DIR`: {output name: file name}
COMPARE_FILES = {
    "md": "compare.md",
    "html": "compare.html",
    "json": "compare.json",
    "runs": "runs.csv",
    "steps": "steps.csv",
}
COMPARE_PLOTS = ("accuracy.png", "throughput.png")
# the repeats summary folder: {output name: file name}
SUMMARY_FILES = {"md": "summary.md", "json": "summary.json", "csv": "summary.csv"}


def compare_file(out, name):
    """<out>/<file> of an output name in COMPARE_FILES ('json' -> <out>/compare.json)."""
    return os.path.join(out, COMPARE_FILES[name])


def repeat_run_name(run_name, seed):
    """The run_name of the repeat of `run_name` with `seed`: '<run_name>-s<seed>'."""
    return "%s-s%s" % (run_name, seed)


def repeats_dir(results_dir, run_name):
    """<results_dir>/<run_name>-repeats: the summary of the repeats of `run_name`."""
    return os.path.join(results_dir, "%s-repeats" % run_name)


def summary_file(repeats, name):
    """<repeats>/<file> of an output name in SUMMARY_FILES ('md' -> summary.md)."""
    return os.path.join(repeats, SUMMARY_FILES[name])


def pair_compare_dir(repeats, seed_a, seed_b):
    """<repeats>/compare-s<a>-s<b>: `resnext compare` of the repeats with seeds a and b."""
    return os.path.join(repeats, "compare-s%s-s%s" % (seed_a, seed_b))
