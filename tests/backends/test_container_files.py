"""Cheap checks of the Ascend container scripts and Snakemake profiles (nothing is built or run
here; that every container script parses is checked in tests/container/test_container_setup.py)."""

import os
import subprocess

import yaml

from support.paths import ROOT


def test_run_sh_passes_devices_driver_and_job_env():
    env = dict(
        os.environ,
        RESNEXT_DRY_RUN="1",
        RESNEXT_ENGINE="podman",
        RESNEXT_NPU_DEVICES="0-1,3",
        ASCEND_DEVICE_ID="3",
        RANK_TABLE_FILE="/x/table.json",
        RESNEXT_IMAGE="img:1",
    )
    out = subprocess.run(
        [os.path.join(ROOT, "docker/ascend/run.sh"), "resnext", "evaluate", "--out", "a b"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        check=True,
    ).stdout.decode()
    words = out.split()
    assert words[:2] == ["podman", "run"] and "img:1" in words
    assert [words[i + 1] for i, w in enumerate(words) if w == "--device"][:3] == [
        "/dev/davinci0",
        "/dev/davinci1",
        "/dev/davinci3",
    ]
    assert (
        "ASCEND_DEVICE_ID" in words and "RANK_TABLE_FILE" in words and "RESNEXT_ENGINE" not in words
    )
    assert out.rstrip().endswith("img:1 resnext evaluate --out a\\ b")


def test_profiles_are_snakemake_profiles():
    apptainer = yaml.safe_load(open(os.path.join(ROOT, "workflow/profiles/apptainer/config.yaml")))
    assert apptainer["software-deployment-method"] == "apptainer"
    assert apptainer["resources"] == {"npu": 8} and apptainer["default-resources"] == {"npu": 0}
    docker = yaml.safe_load(open(os.path.join(ROOT, "workflow/profiles/ascend-docker/config.yaml")))
    assert docker["config"] == {"container_wrapper": "docker/ascend/run.sh"}
    assert docker["resources"] == {"npu": 8}


def test_dockerfiles_take_the_documented_build_args():
    ascend = open(os.path.join(ROOT, "docker/ascend/Dockerfile")).read()
    for arg in (
        "ARG ARCH",
        "ARG BASE_IMAGE",
        "ARG TF_ADAPTER_VERSION",
        "ascend-tensorflow-${ARCH}:20.2.0",
        "--no-index --find-links /tmp/wheelhouse",
    ):
        assert arg in ascend
    cpu = open(os.path.join(ROOT, "docker/cpu/Dockerfile")).read()
    assert "ARG BASE_IMAGE=" in cpu and "requirements.txt" in cpu and "-e ." in cpu
