"""Running this tree's Snakemake workflow from tests: the child environment, `snakemake` in a
working folder (to completion or in the background), the working folder itself, and the job
table of a dry run."""

import os
import re
import subprocess
import sys

import yaml

from support.paths import ROOT, TINY_WORKFLOW

SRC = os.path.join(ROOT, "src")
SNAKEFILE = os.path.join(ROOT, "workflow", "Snakefile")
BIN = os.path.dirname(sys.executable)
STAGE_TIMEOUT_S = 900  # one stage on a loaded 2-core machine, generously


def env(extra=None):
    """Environment of a child process: this tree's src first on PYTHONPATH,
    the venv's bin on PATH."""
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e["PATH"] = BIN + os.pathsep + e.get("PATH", "")
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    e.update(extra or {})
    return e


def snakemake_argv(*args, cores=2):
    """snakemake on this tree's Snakefile; cores=None leaves --cores out."""
    cores_args = [] if cores is None else ["--cores", str(cores)]
    return [os.path.join(BIN, "snakemake"), "-s", SNAKEFILE] + cores_args + [str(a) for a in args]


def snakemake(workdir, *args, check=True, cores=2, timeout=STAGE_TIMEOUT_S):
    """Run Snakemake on this tree's workflow in `workdir`;
    -> CompletedProcess (stdout and stderr together in .stdout)."""
    proc = subprocess.run(
        snakemake_argv(*args, cores=cores),
        cwd=str(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env(),
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            "snakemake %s failed:\n%s" % (" ".join(map(str, args)), proc.stdout[-5000:])
        )
    return proc


def start_snakemake(workdir, args, log_path, cores=2):
    """Start Snakemake in `workdir` in the background (its own session), output to log_path."""
    log = open(str(log_path), "ab")
    try:
        return subprocess.Popen(
            snakemake_argv(*args, cores=cores),
            cwd=str(workdir),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env(),
            start_new_session=True,
        )
    finally:
        log.close()


def planned_jobs(run):
    """{rule: count} from the job stats table of a dry run (a CompletedProcess of snakemake())."""
    return {
        rule: int(count)
        for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", run.stdout, flags=re.M)
        if rule != "total"
    }


def work_folder(root, values=TINY_WORKFLOW, links=("config", "reports")):
    """root (made if missing) as a working folder of the workflow: the project's `links` folders
    symlinked in, `values` written as tiny.yaml (none when None); -> root."""
    root.mkdir(parents=True, exist_ok=True)
    for name in links:
        os.symlink(os.path.join(ROOT, name), str(root / name))
    if values is not None:
        (root / "tiny.yaml").write_text(yaml.safe_dump(values))
    return root
