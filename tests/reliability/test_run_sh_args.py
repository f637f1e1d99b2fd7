"""docker/ascend/run.sh passes every argument intact (issue 12 item 4).

At 58e2a1a RESNEXT_DOCKER_ARGS was word-split and glob-expanded (`*` became the project's file
names, a path with a space two arguments) and the project was mounted with `-v P:P`, which a ':' in
its path breaks. Now RESNEXT_DOCKER_ARGS holds one argument per line and RESNEXT_DOCKER_ARGS_FILE
NUL-ended ones, and the project is mounted with --mount. The dry run's command line (printf %q) is
read back by bash itself, so what is compared is the argv the engine would get.
"""

import os
import subprocess

import pytest

from support.paths import ROOT

RUN_SH = os.path.join(ROOT, "docker", "ascend", "run.sh")


def dry_run(cwd, **env):
    """-> (exit code, argv run.sh would exec, stderr)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RESNEXT_")}
    environ.update(RESNEXT_DRY_RUN="1", RESNEXT_ENGINE="docker", RESNEXT_IMAGE="img:1", **env)
    proc = subprocess.run(
        [RUN_SH, "resnext", "evaluate", "--out", "a b*"],
        cwd=str(cwd),
        env=environ,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        return proc.returncode, None, proc.stderr
    back = subprocess.run(
        ["bash", "-c", 'eval "argv=($1)"; printf "%s\\0" "${argv[@]}"', "-", proc.stdout],
        stdout=subprocess.PIPE,
        check=True,
    )
    return 0, back.stdout.decode().split("\0")[:-1], proc.stderr


def extra_of(project, **env):
    """The arguments run.sh adds for `env` (its RESNEXT_DOCKER_ARGS*): what lies between its own
    and the image, found by a dry run without them."""
    code, base, err = dry_run(project)
    assert code == 0, err
    code, argv, err = dry_run(project, **env)
    assert code == 0, err
    own, tail = base[:-5], base[-5:]  # the image and the command: img:1 resnext evaluate ...
    assert argv[: len(own)] == own and argv[-5:] == tail
    return argv[len(own) : -5]


@pytest.fixture
def project(tmp_path):
    """A project folder whose path holds a ':' and a space, with files a glob would match."""
    folder = tmp_path / "proj:1 a"
    folder.mkdir()
    (folder / "Snakefile").write_text("")
    (folder / "README.md").write_text("")
    return folder


def test_a_project_path_with_a_colon_and_a_space_is_mounted_intact(project):
    code, argv, _ = dry_run(project)
    assert code == 0
    real = os.path.realpath(str(project))
    assert argv[argv.index("-w") + 1] == real
    assert argv[argv.index("--mount") + 1] == "type=bind,source=%s,target=%s" % (real, real)
    assert "-v" not in argv[: argv.index("img:1")]  # the driver mounts exist only on an NPU host
    assert argv[-4:] == ["resnext", "evaluate", "--out", "a b*"]


def test_docker_args_are_one_per_line_never_split_or_globbed(project):
    args = ["--mount", "type=bind,source=/my data,target=/my data", "*", "--env=A=b c", "-e", "B=1"]
    lines = "\n".join(args[:3]) + "\n\n" + "\n".join(args[3:])
    assert extra_of(project, RESNEXT_DOCKER_ARGS=lines) == args


def test_an_args_file_passes_any_bytes_a_newline_too(project, tmp_path):
    args = ["-v", "/a b:/c", "*", "x\ny", "", "$(touch pwned)"]
    path = tmp_path / "docker-args"
    path.write_bytes(b"".join(a.encode() + b"\0" for a in args))
    extra = extra_of(project, RESNEXT_DOCKER_ARGS="--init", RESNEXT_DOCKER_ARGS_FILE=str(path))
    assert extra == ["--init"] + args
    assert not os.path.exists(str(project / "pwned"))


@pytest.mark.parametrize("line", ["-v /data:/data", "-e FOO=bar", "--volume /a:/b"])
def test_an_option_and_its_value_on_one_line_is_refused_naming_the_line(project, line):
    code, _, err = dry_run(project, RESNEXT_DOCKER_ARGS=line)
    assert code == 2
    assert err.strip() == (
        "run.sh: RESNEXT_DOCKER_ARGS line '%s' is an option and its value on one line: put each "
        "argument on its own line (RESNEXT_DOCKER_ARGS=$'-v\\n/data:/data'), or write -o=value"
        % line
    )


def test_an_args_file_without_its_last_nul_is_refused(project, tmp_path):
    path = tmp_path / "docker-args"
    path.write_text("-v\n/data:/data\n")  # newline-separated: the wrong format
    code, _, err = dry_run(project, RESNEXT_DOCKER_ARGS_FILE=str(path))
    assert code == 2 and "RESNEXT_DOCKER_ARGS_FILE '%s' does not end in a NUL byte" % path in err
    code, _, err = dry_run(project, RESNEXT_DOCKER_ARGS_FILE=str(tmp_path / "absent"))
    assert code == 2 and "is not a file" in err


def test_a_project_path_with_a_comma_is_refused_naming_it(tmp_path):
    folder = tmp_path / "a,b"
    folder.mkdir()
    code, _, err = dry_run(folder)
    assert code == 2 and "project folder '%s' holds a ','" % os.path.realpath(str(folder)) in err
