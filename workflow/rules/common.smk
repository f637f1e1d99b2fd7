# Helpers shared by the rules: the config, validated once here, and every path, from resnext.paths.
# Rules name their files through these; a rule's input names another rule's output (rules.x.output).
import itertools
import os
import shlex

from snakemake.exceptions import WorkflowError

from resnext import atomic, checkpoints, paths
from resnext.config import STAGES, load_config, write_resolved
from resnext.data import choice
from resnext.train import recipe

# Snakemake's --config reads the items of a list as strings (YAML's BaseLoader): the seeds of
# --config 'repeat_seeds=[1,2,3]' are numbers again before the schema checks them
if isinstance(config.get("repeat_seeds"), list):
    config["repeat_seeds"] = [
        int(s) if isinstance(s, str) and s.isdigit() else s for s in config["repeat_seeds"]
    ]
CFG = load_config([], values=config)  # fails here, naming the key, before any job runs
# A changed training key of a run that has checkpoints (not named in accept_changes, not a longer
# schedule) fails here too, naming each key with its old and new value: before any job.
recipe.check_workflow(CFG)
RUN = CFG.run_dir
# convert, converted or index, by the rule in docs/data.md "Which data a run uses" (data_url + disk)
DATA = choice.decide(CFG)
if CFG.repeat_of and CFG.data_url == choice.run_data_dir(CFG.replace(run_name=CFG.repeat_of)):
    # a repeat (rules/repeats.smk) reads the data its base run converts in this same DAG: the
    # manifest may not be there yet, but it is the base's convert output, not shards to index
    DATA = choice.DataPlan("converted", CFG.data_url, paths.manifest(CFG.data_url))
HOST_ENV = "../envs/host.yaml"  # the host runtime, for --sdm conda

# Container-side rules (train, evaluate, export): Snakemake's apptainer deployment takes CONTAINER
# (None = on the host); docker-wrapper mode puts WRAP (docker/ascend/run.sh) in front of the command.
# Command words are lists, so that `{params.prefix:q}` quotes each word for the shell.
CONTAINER = CFG.container_image or None
WRAP = shlex.split(CFG.container_wrapper)
NPU = CFG.backend == "npu"
# launcher slurm: train_block is one multi-node SLURM job whose own srun (`resnext train`) starts
# the ranks, a task each: snakemake-executor-plugin-slurm's mpi mode (workflow/profiles/slurm);
# empty for the local launcher (the plugin treats any `mpi` resource as mpi mode)
SLURM_TRAIN = (
    {"tasks": CFG.rank_size, "cpus_per_task": max(1, CFG.threads_per_rank), "mpi": "srun"}
    if CFG.launcher == "slurm"
    else {}
)


def log_of(name):
    """<run>/logs/<name>.log (name may hold a wildcard, e.g. "train-{step}")."""
    return paths.rule_log(RUN, name)


def all_cores(wildcards):
    """`threads` of a job that must have the machine to itself: every core Snakemake was given.

    A callable, because `workflow.cores` raises when no --cores is given, and the commands that run
    no job need none: `snakemake --unlock` (the first step after a crash), `--summary`, `--report`.
    Where a job is planned but not run, 1 is as good as any.
    """
    try:
        return workflow.cores
    except WorkflowError:
        return 1


def with_devices(count):
    """Command words holding `count` NPUs from the lock-file pool for the job (none off NPU).
    They run before WRAP, so the device is chosen on the host and passed into the container."""
    if not NPU:
        return []
    ids = ",".join(str(d) for d in CFG.npu_device_ids)
    return [
        "resnext",
        "with-device",
        "--config",
        paths.resolved_config(RUN),
        "--pool",
        paths.npu_pool(CFG.results_dir),
        "--devices",
        ids,
        "--count",
        str(count),
        "--",
    ]


# A job of every rank at once (train_block, benchmark): rank_size NPUs of the Snakemake resource
# `npu` and, on NPU, that many devices from the pool (never more than npu_device_ids lists).
RANK_NPUS = CFG.rank_size if NPU else 0


def rank_devices(wildcards, input):
    """`params.prefix` of such a job: its with_devices words, then WRAP. Takes `input`, so that
    Snakemake counts it as derived and never compares it (see the rerun notes below)."""
    return with_devices(min(CFG.rank_size, len(CFG.npu_device_ids))) + WRAP


def resolve(out, log):
    """The resolve_config job: CFG (validated above) -> config.resolved.yaml, with its sha256."""
    digest = write_resolved(CFG, out)
    with open(log, "w", encoding="utf-8") as f:
        f.write("resolved config -> %s (sha256 %s)\n" % (out, digest))


# What may rerun a job (Snakemake's rerun triggers: mtime, params, input, code, software-env):
# - the resolved config changes with every key, so only the report takes it as a plain input;
#   every other job takes it (and the manifest) as settled(), and takes as a plain input the
#   settings file of each stage it depends on (stage_settings: rewritten only when the keys whose
#   schema `affects` lists that stage change). Not a params entry of the job itself: when an
#   upstream job (resolve_config) reruns, Snakemake skips the params check of everything
#   downstream and follows only non-ancient inputs;
# - command prefixes (devices, container wrapper: operations keys) are params computed from `input`,
#   which Snakemake counts as derived and never compares;
# - a block's output is its done marker, never the checkpoint: Snakemake deletes a job's outputs
#   before it reruns it, and retention deletes old checkpoints while the marker stays.
def settled(output):
    """ancient() of a copy of another rule's output: ancient() flags the very object it is given,
    and flagging rules.x.output itself would make that file ancient for every job, the report's
    too."""
    return ancient(str(output))


def trained(step):
    """A job's input for the checkpoint of block `step`: the block's done marker, ancient (a
    retrained or re-marked earlier block never reruns what came after it)."""
    return ancient(paths.block_done(CFG.train_dir, step))


def settings(*stages):
    """The settings files of these stages (config.STAGES), as a job's input."""
    return [paths.stage_settings(RUN, stage) for stage in stages]


def write_settings(stage, out, log):
    """The stage_settings job: the keys affecting `stage`, their values and sha256."""
    atomic.write_json(
        out, {"stage": stage, "sha256": CFG.sha256(stage), "keys": CFG.settings(stage)}
    )
    with open(log, "w", encoding="utf-8") as f:
        f.write("settings of %s -> %s (sha256 %s)\n" % (stage, out, CFG.sha256(stage)))


def previous_block(wildcards):
    """Block b trains from block b-1's checkpoint."""
    steps = CFG.block_steps
    i = steps.index(int(wildcards.step))
    return [trained(steps[i - 1])] if i > 0 else []


def finished_blocks():
    """Steps of the complete checkpoints whose block has finished (its done marker is written
    just after the checkpoint): what `evaluate` asks for, never training."""
    return [
        s
        for s in checkpoints.complete_steps(CFG.train_dir)
        if os.path.exists(paths.block_done(CFG.train_dir, s))
    ]


def evals_of(steps):
    """The evaluate_checkpoint results of these steps."""
    return expand(rules.evaluate_checkpoint.output.json, step=steps)


def report_output(name, caption, subcategory):
    """report/<file> of paths.REPORT_FILES[name], as a Snakemake report() item with its caption."""
    return report(
        paths.report_file(paths.report_dir(RUN), name),
        caption=f"../report/{caption}.rst",
        category="Report",
        subcategory=subcategory,
    )


def manifest():
    """The manifest every stage reads (convert's or index's output, or data_url's own), settled: a
    rewritten manifest of the same shards never reruns training (see the rerun notes above)."""
    return settled(DATA.manifest_path)


def demo_marker():
    return [paths.demo_marker(CFG.source_path)] if CFG.source_dir == "demo" else []


# -- snakemake repeats (rules/repeats.smk) --------------------------------------------------


def repeat_config(seed):
    """The config of the repeat with `seed`: this one with its name, seed and repeat_of, on the
    data this run converts or reads (the seed would otherwise split and shuffle other data)."""
    return dict(
        config,
        run_name=paths.repeat_run_name(CFG.run_name, seed),
        seed=seed,
        repeat_of=CFG.run_name,
        data_url=DATA.shard_dir,
    )


REPEATS = paths.repeats_dir(CFG.results_dir, CFG.run_name)
REPEAT_RUNS = {
    seed: paths.run_dir(CFG.results_dir, paths.repeat_run_name(CFG.run_name, seed))
    for seed in CFG.repeat_seeds
}
REPEAT_PAIRS = list(itertools.combinations(CFG.repeat_seeds, 2))


def repeat_audit(seed):
    """The report's audit.json of the repeat with `seed` (its module's report writes it)."""
    return paths.report_file(paths.report_dir(REPEAT_RUNS[int(seed)]), "audit")


def repeat_of_audit(audit):
    """The run folder of a repeat's <run>/report/audit.json."""
    return os.path.dirname(os.path.dirname(audit))


def pair_compare(seed_a, seed_b):
    """compare.json of `resnext compare` of the repeats with seeds a and b."""
    return paths.compare_file(paths.pair_compare_dir(REPEATS, seed_a, seed_b), "json")


def repeats_inputs(wildcards):
    """The summary's inputs; with fewer than two seeds, the one line that says what to set."""
    if len(CFG.repeat_seeds) < 2:
        raise WorkflowError(
            "repeats: repeat_seeds holds %d seed(s), needs at least two: set it in the config "
            "or pass --config 'repeat_seeds=[1,2,3]'" % len(CFG.repeat_seeds)
        )
    return {
        "audits": [repeat_audit(s) for s in CFG.repeat_seeds],
        "compares": [pair_compare(a, b) for a, b in REPEAT_PAIRS],
    }
