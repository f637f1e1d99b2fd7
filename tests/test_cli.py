"""`resnext <stage>` entry points: JSON outputs and clear failures."""

import json
import os
import subprocess
import sys

import pytest

from resnext import cli, config
from resnext.config import load_config

from support.paths import DEMO_CONFIG


def test_summary_prints_the_published_size(capsys):
    assert (
        cli.main(
            [
                "summary",
                "--config",
                DEMO_CONFIG,
                "--set",
                "image_size=224",
                "--set",
                "num_classes=1001",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "arch": "resnext50_32x4d",
        "params": 25030953,
        "macs": 4230481920,
        "image_size": 224,
        "num_classes": 1001,
    }


def test_schedule_prints_lr_per_step(capsys):
    assert cli.main(["schedule", "--config", DEMO_CONFIG, "--at", "0,44,440"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"0", "44", "440"} and out["44"] == pytest.approx(
        0.05, rel=1e-5
    )  # peak after 1 warm-up epoch


def test_bad_config_fails_naming_the_key_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("results_dir: %s\nbatch_size: many\n" % (tmp_path / "results"))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "resnext.cli",
            "resolve-config",
            "--config",
            DEMO_CONFIG,
            "--config",
            str(bad),
            "--out",
            str(tmp_path / "results" / "c.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "batch_size" in run.stderr
    assert not (tmp_path / "results").exists()


def _resolved(tmp_path, *sets):
    out = tmp_path / "config.resolved.yaml"
    argv = ["resolve-config", "--config", DEMO_CONFIG, "--out", str(out)]
    assert cli.main(argv + [a for s in sets for a in ("--set", s)]) == 0
    assert not [n for n in os.listdir(tmp_path) if ".tmp" in n]
    return out


def test_a_resolved_config_is_loaded_as_written_without_a_second_validation(tmp_path, monkeypatch):
    out = _resolved(tmp_path, "seed=5")
    expected = load_config([DEMO_CONFIG], ["seed=5"])
    assert out.read_text().startswith(config.RESOLVED_HEADER + expected.sha256() + "\n")
    monkeypatch.setattr(config, "_validated", None)  # any validation now fails
    cfg, path = cli._config(cli._parser().parse_args(["report", "--config", str(out)]))
    assert cfg == expected and path == str(out)


def _stage(*argv):
    argv = [sys.executable, "-m", "resnext.cli"] + list(argv)
    return subprocess.run(argv, capture_output=True, text=True)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda t: t.replace("seed: 5", "seed: 6"), "was changed after it was written"),
        (lambda t: t.replace("seed: 5\n", ""), "by another version of resnext (keys differ: seed)"),
        (lambda t: t.replace("seed: 5", "seed: [5"), "cannot be read"),
        (
            lambda t: t.split("\n", 1)[0][:-4] + "\n" + t.split("\n", 1)[1],
            "is not a resolved config",
        ),
    ],
)
def test_a_hand_edited_or_damaged_resolved_config_is_refused_in_one_line(tmp_path, edit, message):
    out = _resolved(tmp_path, "seed=5")
    out.write_text(edit(out.read_text()))
    run = _stage("resolve-config", "--config", str(out), "--out", str(tmp_path / "again.yaml"))
    assert run.returncode == 2 and message in run.stderr and str(out) in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "again.yaml").exists()


def test_a_resolved_config_given_with_set_is_validated_like_any_file(tmp_path):
    out = _resolved(tmp_path, "seed=5")
    out.write_text(out.read_text().replace("seed: 5", "seed: 6"))  # only the trusted path refuses
    again = tmp_path / "again.yaml"
    run = _stage("resolve-config", "--config", str(out), "--set", "seed=7", "--out", str(again))
    assert run.returncode == 0 and "seed: 7" in again.read_text(), run.stderr
    run = _stage("resolve-config", "--config", str(out), "--set", "seed=x", "--out", str(again))
    assert run.returncode == 2 and "seed" in run.stderr


@pytest.mark.parametrize(
    "error,message",
    [
        ("TrainingDiverged", "loss is nan at step 7; the last good checkpoint is model.ckpt-4"),
        (
            "CheckpointSaveFailed",
            "could not write checkpoint model.ckpt-8; the previous checkpoint, step 4, is intact",
        ),
    ],
)
def test_a_training_failure_the_user_can_act_on_is_one_error_line_and_exit_2(
    error, message, monkeypatch, caplog
):
    from resnext.train import loop

    def fail(args):
        raise getattr(loop, error)(message)

    monkeypatch.setattr(cli, "_parser", _parser_calling(fail))
    assert cli.main(["train-rank"]) == 2
    assert message in caplog.text and "Traceback" not in caplog.text


def _parser_calling(func):
    import argparse

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=func)
    parser.add_argument("stage")
    return lambda: parser


def test_refusing_a_missing_data_folder_does_not_import_tensorflow(tmp_path):
    """The launcher's preflight refuses before any rank starts;
    TensorFlow's import would cost seconds."""
    code = (
        "import sys; from resnext import cli; "
        "rc = cli.main(['train', '--config', %r, '--set', 'data_url=%s', "
        "'--set', 'results_dir=%s', '--until-step', '4']); print(rc, 'tensorflow' in sys.modules)"
        % (DEMO_CONFIG, tmp_path / "nowhere", tmp_path / "results")
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.split() == ["2", "False"], run.stdout + run.stderr
    assert "nowhere" in run.stderr and "resnext convert" in run.stderr
    assert not (tmp_path / "results").exists()
