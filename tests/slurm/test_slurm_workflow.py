"""The tiny workflow through workflow/profiles/slurm on the two-node test cluster: every job goes
through sbatch, train_block spans both nodes, nothing is left to do afterwards, and one removed
evaluation is one new job."""

import os
import re
import sys

import pytest

from support.paths import ROOT, TINY_WORKFLOW
from support.workflow import SNAKEFILE, work_folder

pytestmark = pytest.mark.slurm

PROFILE = os.path.join(ROOT, "workflow", "profiles", "slurm")
# one block of 4 steps on 4 ranks (2 nodes x 2), one evaluation
TINY_SLURM = dict(
    TINY_WORKFLOW,
    rank_size=4,
    max_train_steps=4,
    checkpoint_every_steps=4,
)


def _snakemake(cluster, work, *args):
    bin_dir = os.path.dirname(sys.executable)
    env = dict(
        os.environ,
        PATH=bin_dir + os.pathsep + os.environ["PATH"],
        PYTHONPATH=os.path.join(ROOT, "src"),
    )
    argv = (
        [os.path.join(bin_dir, "snakemake"), "-s", SNAKEFILE, "--profile", PROFILE]
        + list(args)
        + ["--configfile", "tiny.yaml"]
    )  # last: --configfile takes every word after it
    return cluster.on(1, argv, env=env, cwd=work, timeout=900)


def _submitted(run):
    return len(re.findall(r"submitted with SLURM jobid", run.stdout + run.stderr))


def test_the_tiny_workflow_runs_through_sbatch_with_train_block_on_both_nodes(
    slurm_cluster, tmp_path
):
    work_folder(tmp_path, TINY_SLURM)
    run = _snakemake(slurm_cluster, tmp_path, "all")
    said = run.stdout + run.stderr
    assert run.returncode == 0, said[-4000:]
    jobs = re.findall(r"^rule (\w+):", said, flags=re.M)
    assert "train_block" in jobs and "evaluate_checkpoint" in jobs and "export" in jobs, jobs
    assert _submitted(run) == len([j for j in jobs if j != "all"]), said[-4000:]
    logs = tmp_path / "results" / "tiny" / "train" / "logs"
    nodes = set()
    for rank in range(4):
        text = (logs / ("rank-%d.log" % rank)).read_text()
        nodes.update(re.findall(r"rank %d/4 on node (node\d)" % rank, text))
    assert nodes == {"node1", "node2"}
    dry = _snakemake(slurm_cluster, tmp_path, "-n", "all")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stderr
    (tmp_path / "results" / "tiny" / "eval" / "step-4.json").unlink()
    again = _snakemake(slurm_cluster, tmp_path, "evaluate")
    said = again.stdout + again.stderr
    assert again.returncode == 0, said[-4000:]
    assert re.findall(r"^rule (\w+):", said, flags=re.M) == ["evaluate_checkpoint"], said[-4000:]
    assert _submitted(again) == 1
    assert (tmp_path / "results" / "tiny" / "eval" / "step-4.json").exists()
