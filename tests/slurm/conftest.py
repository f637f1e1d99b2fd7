"""The two-node SLURM cluster the `slurm` tests run in (tests/slurm/cluster.sh),
started once per session.

Run by `make test-slurm` (pytest -m slurm), which installs Debian's slurm-wlm and munge first where
it can; `pytest tests` without that marker skips these tests. They skip with the reason when not
root, when the kernel refuses `unshare --net`, or when slurm-wlm / munge are not installed. The
cluster is stopped (daemons, job processes, namespaces) when the session ends, also after a failed
test, Ctrl-C or SIGTERM.
"""

import signal
import subprocess

import pytest

from slurm_support import CLUSTER_SH, Cluster, why_not
from support.markers import register, skip_unless_selected


def pytest_configure(config):
    register(config, "slurm", "needs root and slurm-wlm; run by `make test-slurm`")


def pytest_collection_modifyitems(config, items):
    skip_unless_selected(
        config, items, "slurm", "starts a SLURM cluster: run by `make test-slurm` (pytest -m slurm)"
    )


def _interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """The cluster, up for the whole session; skips the test with the reason when
    it cannot start."""
    reason = why_not()
    if reason:
        pytest.skip(reason)
    root = str(tmp_path_factory.mktemp("slurm"))
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM too ends in the teardown below
    try:
        started = subprocess.run(
            [CLUSTER_SH, "up", root], capture_output=True, text=True, timeout=120
        )
        if started.returncode != 0:
            pytest.fail("cluster.sh up failed: %s" % (started.stderr or started.stdout).strip())
        yield Cluster(root)
    finally:
        subprocess.run([CLUSTER_SH, "down", root], capture_output=True, timeout=120)
        signal.signal(signal.SIGTERM, previous)
