"""The CPU image (docker/cpu/Dockerfile) runs the demo's train, evaluate and export stages.

`make test-container` builds the image (base by debootstrap, wheels from the host, no registry) and
runs this module; the normal `make test` deselects it (marker `container`). Inside the image,
tests/container/stages.sh calls the package CLI (resolve-config, demo-data, convert, train
--until-step, evaluate, export) with the network off; the results land in a host folder
bind-mounted at /out and are checked here, on the host.

Environment: RESNEXT_ENGINE (podman, default; or docker), RESNEXT_CPU_IMAGE (default
resnext-cpu:latest), CONTAINERS_CONF (default docker/containers.conf, for podman).
"""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from support.paths import ROOT

pytestmark = pytest.mark.container

ENGINE = os.environ.get("RESNEXT_ENGINE", "podman")
IMAGE = os.environ.get("RESNEXT_CPU_IMAGE", "resnext-cpu:latest")
STAGES = os.path.join(ROOT, "tests", "container", "stages.sh")
ARCH = "resnext50_32x4d"  # the demo's architecture (config/config.yaml)


def engine_env():
    env = dict(os.environ)
    if ENGINE == "podman":
        env.setdefault("CONTAINERS_CONF", os.path.join(ROOT, "docker", "containers.conf"))
    return env


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """Runs stages.sh in the image once; returns (host output folder, console output, wall
    seconds)."""
    if not shutil.which(ENGINE):
        pytest.skip(
            "%s is not installed (make test-container installs it: docker/host-tools.sh)" % ENGINE
        )
    env = engine_env()
    found = subprocess.run(
        [ENGINE, "image", "inspect", IMAGE], capture_output=True, text=True, env=env
    )
    assert found.returncode == 0, "no image %s: build it with `make image-cpu`\n%s" % (
        IMAGE,
        found.stderr,
    )
    out = tmp_path_factory.mktemp("container-out")
    cmd = [
        ENGINE,
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        "label=disable",
        "-v",
        "%s:/out" % out,
        "-v",
        "%s:/stages.sh:ro" % STAGES,
        IMAGE,
        "bash",
        "/stages.sh",
        "/out",
    ]
    start = time.time()
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.time() - start
    assert run.returncode == 0, "%s\nexit %d\n%s\n%s" % (
        " ".join(cmd),
        run.returncode,
        run.stdout[-4000:],
        run.stderr[-4000:],
    )
    return out / "demo", run.stdout, wall


def test_stages_write_results_to_the_host(demo_run, capsys):
    run, console, wall = demo_run
    for step in (2, 4):
        assert (run / "train" / "ckpt" / ("model.ckpt-%d.index" % step)).exists()
    assert (run / "train" / "block-2.json").exists()

    evals = {
        step: json.loads((run / "eval" / ("step-%d.json" % step)).read_text()) for step in (2, 4)
    }
    for step, result in evals.items():
        assert result["step"] == step
        assert result["num_images"] == 359  # the demo's validation split, every image once
        assert 0.0 <= result["top1"] <= result["top5"] <= 1.0
        assert result["checkpoint"]["path"].startswith("/out/")  # written by the container

    export = json.loads((run / "export" / "export.json").read_text())
    graph = run / "export" / ("%s.pb" % ARCH)
    assert graph.stat().st_size > 1000000
    assert export["graph"] == "/out/demo/export/%s.pb" % ARCH
    assert export["max_abs_diff_logits"] < 1e-4
    assert export["outputs"] == ["logits", "probabilities"]
    assert export["config_sha256"] == evals[4]["config_sha256"]

    timings = re.findall(r"^timing: (\S+) ([\d.]+) s$", console, flags=re.M)
    assert [name for name, _ in timings][-1] == "export"
    with capsys.disabled():
        print("\n" + console.splitlines()[0])
        for name, seconds in timings:
            print("  %-16s %7s s" % (name, seconds))
        print("  %-16s %7.1f s  (podman run, including container start)" % ("total", wall))


def test_image_is_the_host_runtime(demo_run):
    """The block record names the image's runtime: Python 3.11 and the pinned TensorFlow."""
    run, _, _ = demo_run
    block = json.loads((run / "train" / "block-2.json").read_text())
    pinned = [
        line.split("==")[1]
        for line in open(os.path.join(ROOT, "requirements.txt"))
        if line.lower().startswith(("tensorflow==", "tensorflow_cpu==", "tensorflow-cpu=="))
    ]
    assert block["versions"]["python"].startswith("3.11")
    assert block["versions"]["tensorflow"] == pinned[0].strip()
    assert block["backend"] == "cpu" and block["rank_size"] == 1
