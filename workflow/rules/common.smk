# Helpers shared by the rules: the resolved config and the paths every stage agrees on.
import json

from snakemake.exceptions import WorkflowError

from resnext import checkpoints, predictions
from resnext.config import load_config

CFG = load_config([], values=config)  # fails here, naming the key, before any job runs
RUN = CFG.run_dir
RESOLVED = f"{RUN}/config.resolved.yaml"
MANIFEST = f"{CFG.data_dir}/manifest.json"
LOGS = f"{RUN}/logs"
HOST_ENV = "../envs/host.yaml"  # the host runtime, for --sdm conda

# Container-side rules (train, evaluate, export): Snakemake's apptainer deployment takes CONTAINER
# (None = on the host); docker-wrapper mode puts WRAP (docker/ascend/run.sh) in front of the command.
CONTAINER = CFG.container_image or None
WRAP = f"{CFG.container_wrapper} " if CFG.container_wrapper else ""
NPU = CFG.backend == "npu"
NPU_POOL = f"{CFG.results_dir}/.npu-pool"


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
    """Command prefix holding `count` NPUs from the lock-file pool for the job (empty off NPU).
    It runs before WRAP, so the device is chosen on the host and passed into the container."""
    if not NPU:
        return ""
    ids = ",".join(str(d) for d in CFG.npu_device_ids)
    return f"resnext with-device --config {RESOLVED} --pool {NPU_POOL} --devices {ids} --count {count} -- "


def config_json():
    """The merged Snakemake config, handed to `resnext resolve-config` verbatim."""
    return json.dumps(CFG.to_dict(), sort_keys=True)


def ckpt_index(step):
    return checkpoints.ckpt_path(CFG.train_dir, int(step)) + ".index"


def previous_block(wildcards):
    """Block b trains from block b-1's checkpoint."""
    steps = CFG.block_steps
    i = steps.index(int(wildcards.step))
    return [ckpt_index(steps[i - 1])] if i > 0 else []


def eval_json(step):
    return f"{RUN}/eval/step-{step}.json"


def eval_predictions(step):
    """eval/step-<step>.predictions.npz, which `resnext evaluate` writes beside the JSON."""
    return predictions.path_for(eval_json(step))


def all_evals():
    return [eval_json(s) for s in CFG.block_steps]


def existing_checkpoint_evals():
    """Results for the checkpoints on disk now: `evaluate` never asks for training."""
    return [eval_json(s) for s in checkpoints.complete_steps(CFG.train_dir)]


def demo_marker():
    return [f"{CFG.source_path}/demo.json"] if CFG.source_dir == "demo" else []


def report_outputs():
    return [f"{RUN}/report/{name}" for name in ("report.md", "eval_table.txt", "audit.json")]
