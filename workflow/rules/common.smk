# Helpers shared by the rules: the config, validated once here, and every path, from resnext.paths.
# Rules name their files through these; a rule's input names another rule's output (rules.x.output).
import shlex

from snakemake.exceptions import WorkflowError

from resnext import checkpoints, paths
from resnext.config import load_config, write_resolved

CFG = load_config([], values=config)  # fails here, naming the key, before any job runs
RUN = CFG.run_dir
HOST_ENV = "../envs/host.yaml"  # the host runtime, for --sdm conda

# Container-side rules (train, evaluate, export): Snakemake's apptainer deployment takes CONTAINER
# (None = on the host); docker-wrapper mode puts WRAP (docker/ascend/run.sh) in front of the command.
# Command words are lists, so that `{params.prefix:q}` quotes each word for the shell.
CONTAINER = CFG.container_image or None
WRAP = shlex.split(CFG.container_wrapper)
NPU = CFG.backend == "npu"


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


def resolve(out, log):
    """The resolve_config job: CFG (validated above) -> config.resolved.yaml, with its sha256."""
    digest = write_resolved(CFG, out)
    with open(log, "w", encoding="utf-8") as f:
        f.write("resolved config -> %s (sha256 %s)\n" % (out, digest))


def previous_block(wildcards):
    """Block b trains from block b-1's checkpoint."""
    steps = CFG.block_steps
    i = steps.index(int(wildcards.step))
    return expand(rules.train_block.output.index, step=steps[i - 1]) if i > 0 else []


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


def demo_marker():
    return [paths.demo_marker(CFG.source_path)] if CFG.source_dir == "demo" else []
