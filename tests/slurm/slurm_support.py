"""Starting and using the two-node test cluster (cluster.sh): what the slurm tests share."""

import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER_SH = os.path.join(HERE, "cluster.sh")
TOOLS = (
    "unshare",
    "nsenter",
    "ip",
    "munged",
    "slurmctld",
    "slurmd",
    "srun",
    "sbatch",
    "squeue",
    "scontrol",
)


def why_not():
    """Why a cluster cannot start on this machine, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, bind mounts, slurmd)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return (
            "%s not installed: `make slurm-tools` as root installs Debian's slurm-wlm and munge"
            % ", ".join(missing)
        )
    probe = subprocess.run(
        ["unshare", "--net", "--uts", "--mount", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return "the kernel refused `unshare --net --uts --mount`: %s" % probe.stderr.strip()[:200]
    return None


class Cluster:
    """A running two-node cluster: `on(n, argv)` runs argv on node n in the current folder."""

    def __init__(self, root):
        self.root = root

    def command(self, node, argv):
        return [CLUSTER_SH, "on", str(node), self.root] + [str(a) for a in argv]

    def on(self, node, argv, **kwargs):
        """subprocess.run of argv on node `node` (1 or 2);
        text output captured unless told otherwise."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", 300)
        return subprocess.run(self.command(node, argv), **kwargs)

    def popen(self, node, argv, **kwargs):
        return subprocess.Popen(self.command(node, argv), **kwargs)
