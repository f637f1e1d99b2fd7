"""The `npu_check` target plans one `resnext npu-check` job on the run's resolved config (dry
runs of the real Snakefile): never part of `all`; on backend npu it holds 2 pool devices and runs
inside the container wrapper, as training does."""

import pytest
import yaml

from support.paths import TINY_WORKFLOW
from support.workflow import planned_jobs, snakemake, work_folder

NPU_RUN = dict(
    TINY_WORKFLOW,
    backend="npu",
    precision_mode="allow_mix_precision",
    loss_scale=1024,
    container_wrapper="docker/ascend/run.sh",
    npu_device_ids=[0, 1, 2, 3],
)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = work_folder(tmp_path_factory.mktemp("wfnpucheck"), links=("config", "docker"))
    (work / "npu.yaml").write_text(yaml.safe_dump(NPU_RUN))
    return work


def test_npu_check_plans_one_check_job_never_in_all(work):
    run = snakemake(work, "npu_check", "-n", "-p", "--configfile", "tiny.yaml")
    assert planned_jobs(run) == {"resolve_config": 1, "npu_check_run": 1, "npu_check": 1}
    assert (
        "resnext npu-check --config results/tiny/config.resolved.yaml"
        " --out results/tiny/npu-check > results/tiny/logs/npu-check.log 2>&1" in run.stdout
    )
    assert "npu_check_run" not in planned_jobs(
        snakemake(work, "all", "-n", "--configfile", "tiny.yaml")
    )


def test_on_npu_it_holds_two_pool_devices_inside_the_container(work):
    run = snakemake(work, "npu_check", "-n", "-p", "--configfile", "npu.yaml")
    text = run.stdout
    assert (
        "resnext with-device --config results/tiny/config.resolved.yaml --pool results/.npu-pool"
        " --devices 0,1,2,3 --count 2 -- docker/ascend/run.sh resnext npu-check"
        " --config results/tiny/config.resolved.yaml --out results/tiny/npu-check"
    ) in text
