"""The launcher's srun step (launcher slurm): its command line and how srun's report names a rank.
The step itself runs on the test cluster (tests/slurm/test_slurm_train.py)."""

import pytest

from resnext.config import ConfigError, load_config
from resnext.train import preflight, slurmstep
from support.paths import DEMO_CONFIG

# what srun 22.05 printed on the test cluster when task 3 was SIGKILLed (--kill-on-bad-exit=1)
KILLED = """srun: error: node2: task 3: Killed
srun: launch/slurm: _step_signal: Terminating StepId=2.0
srun: error: node2: task 2: Terminated
srun: error: node1: tasks 0-1: Terminated
srun: Force Terminated StepId=2.0
"""


def _cfg(*overrides):
    return load_config([DEMO_CONFIG], ["launcher=slurm"] + list(overrides))


def test_one_srun_starts_a_task_per_rank_in_block_order_with_ports_and_logs(tmp_path):
    argv = slurmstep.srun_argv(
        _cfg("rank_size=4", "threads_per_rank=2"), ["python", "x"], str(tmp_path / "logs")
    )
    assert argv[0] == "srun" and argv[-3:] == ["--", "python", "x"]
    for flag in (
        "--ntasks=4",
        "--distribution=block",
        "--kill-on-bad-exit=1",
        "--resv-ports=4",
        "--cpus-per-task=2",
        "--open-mode=append",
        "--output=%s/logs/rank-%%t.log" % tmp_path,
    ):
        assert flag in argv, flag
    one = slurmstep.srun_argv(_cfg("rank_size=1"), ["python"], "logs")
    assert not [a for a in one if a.startswith(("--resv-ports", "--cpus-per-task"))]


def test_a_percent_in_the_run_folder_reaches_srun_doubled():
    assert slurmstep.srun_pattern("/r/100%/logs") == "/r/100%%/logs/rank-%t.log"


def test_the_rank_that_failed_first_is_named_not_those_srun_cancelled():
    assert slurmstep.failed_task(KILLED) == (3, "node2", "Killed")
    exited = (
        "srun: error: node1: tasks 0-1: Terminated\n"
        "srun: error: node2: task 2: Exited with exit code 2\n"
    )
    assert slurmstep.failed_task(exited) == (2, "node2", "Exited with exit code 2")
    assert slurmstep.failed_task("srun: error: node1: tasks 0-1: Terminated\n")[0] == 0
    assert slurmstep.failed_task("srun: error: Unable to create step\n") is None


def test_slurm_conf_reaches_srun_and_its_ranks(tmp_path):
    conf = tmp_path / "slurm.conf"
    assert "SLURM_CONF" not in slurmstep.job_env(_cfg(), ["--config", "c.yaml"])
    env = slurmstep.job_env(_cfg("slurm_conf=%s" % conf), ["--config", "c.yaml"])
    assert env["SLURM_CONF"] == str(conf)


def test_a_missing_slurm_conf_is_refused_before_srun(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight.shutil, "which", lambda tool: "/usr/bin/" + tool)
    with pytest.raises(ConfigError, match="slurm_conf: .*nowhere.conf is not a file"):
        preflight.check_slurm(_cfg("slurm_conf=%s" % (tmp_path / "nowhere.conf")))
