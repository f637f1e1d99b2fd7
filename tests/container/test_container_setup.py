"""Cheap checks of the container setup that run in the normal `make test` (nothing is built or run):
the scripts parse, the podman settings hold what podman needs here, and the CPU wheelhouse targets
the image's Python rather than the host's."""

import os
import subprocess
import tomllib

import pytest

from support.paths import ROOT

SCRIPTS = [
    "docker/host-tools.sh",
    "docker/cpu/build-base.sh",
    "docker/cpu/wheelhouse.sh",
    "tests/container/stages.sh",
    "docker/ascend/run.sh",
    "docker/ascend/ascend-env.sh",
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_parse_and_are_executable(script):
    path = os.path.join(ROOT, script)
    assert os.access(path, os.X_OK), script
    subprocess.run(["bash", "-n", path], check=True)


def test_containers_conf_keeps_the_callers_ulimits_and_uses_runc_cgroupfs():
    with open(os.path.join(ROOT, "docker", "containers.conf"), "rb") as f:
        conf = tomllib.load(f)
    assert conf["containers"]["default_ulimits"] == []
    assert conf["engine"]["runtime"] == "runc" and conf["engine"]["cgroup_manager"] == "cgroupfs"


def test_run_sh_uses_the_project_containers_conf_for_podman():
    env = dict(os.environ, RESNEXT_DRY_RUN="1", RESNEXT_ENGINE="podman")
    env.pop("CONTAINERS_CONF", None)
    run = subprocess.run(
        [os.path.join(ROOT, "docker/ascend/run.sh"), "true"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.startswith("podman run ")
    assert "CONTAINERS_CONF=%s" % os.path.join(ROOT, "docker", "containers.conf") in run.stderr


def test_cpu_image_builds_offline_from_a_wheelhouse_for_python_311():
    dockerfile = open(os.path.join(ROOT, "docker/cpu/Dockerfile")).read()
    assert "--no-index --find-links /tmp/wheelhouse" in dockerfile
    assert "build-tools.txt" in dockerfile  # setuptools and wheel, which `pip freeze` leaves out
    assert (
        "COPY . " not in dockerfile
    )  # sources by name: the wheelhouse must not reach the final image
    wheelhouse = open(os.path.join(ROOT, "docker/cpu/wheelhouse.sh")).read()
    assert "py_version=3.11" in wheelhouse and "glibc_minor=36" in wheelhouse
