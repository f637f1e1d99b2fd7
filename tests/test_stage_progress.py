"""Progress of evaluation and export when their output goes to a log (a file, as under Snakemake's
`> {log} 2>&1`): plain periodic log lines (export: one per stage, naming it), a final line,
no bar."""

import json
import os
import re
import subprocess
import sys

import yaml

from resnext.backends import get_backend
from resnext.train import loop
from resnext import paths

# 2024-01-01 12:00:00,000 INFO resnext.progress: export: 3/7 stages (42.9%), 2.5s; froze the ...
STAGE = re.compile(r" INFO resnext\.progress: export: (\d)/7 stages \(\d+\.\d%\), [\dhms.]+; (.+)$")
DONE = re.compile(r" INFO resnext\.progress: export: done, 7 stages in [\dhms.]+$")
# ... resnext.progress: evaluate: 16/40 images (40.0%), 80.1 images/s, eta 0.3s
EVAL_LINE = re.compile(r" INFO resnext\.progress: evaluate: (\d+)/(\d+) images \(\d+\.\d%\)")
EVAL_DONE = re.compile(
    r" INFO resnext\.progress: evaluate: done, (\d+) images in [\dhms.]+, [\d.]+ images/s$"
)


def _stage_to_a_log_file(stage, cfg, prefix, folder):
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(cfg.to_dict()))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("RESNEXT_PROGRESS", None)  # auto: the choice between bar and lines is what is tested
    log_path = folder / ("%s.log" % stage)
    with open(str(log_path), "w") as log:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "resnext.cli",
                stage,
                "--config",
                str(config),
                "--checkpoint",
                prefix,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    text = log_path.read_text()
    assert run.returncode == 0, text[-3000:]
    return text


def _progress_lines(stage, tiny_cfg, folder):
    """Train the tiny model 4 steps, run `stage` on it into a log file:
    (cfg, prefix, log text, progress lines)."""
    cfg = tiny_cfg(eval_batch_size=16)
    loop.train_block(cfg, 4, get_backend(cfg))
    prefix = paths.ckpt_prefix(cfg.train_dir, 4)
    text = _stage_to_a_log_file(stage, cfg, prefix, folder)
    return cfg, prefix, text, [line for line in text.splitlines() if " resnext.progress: " in line]


def test_export_logs_a_line_per_stage_when_its_output_is_a_log(tiny_cfg, tmp_path):
    cfg, prefix, text, lines = _progress_lines("export", tiny_cfg, tmp_path)
    assert lines, text[-3000:]
    stages = [STAGE.search(line) for line in lines[:-1]]
    assert all(stages) and DONE.search(lines[-1]), "\n".join(lines)
    assert [int(m.group(1)) for m in stages] == [1, 2, 3, 4, 5, 6, 7]
    pb_path = os.path.join(cfg.run_dir, "export", "%s.pb" % cfg.arch)
    assert [m.group(2) for m in stages] == [
        "read 16 validation images",
        "restored %s" % prefix,
        "froze the variables into constants",
        "ran the checkpoint on the images",
        "wrote %s" % pb_path,
        "ran the frozen graph on the images",
        "wrote export.json",
    ]
    assert "\r" not in text and "|" not in "\n".join(lines)  # no bar in a log


def test_evaluate_logs_images_done_of_the_validation_set_when_its_output_is_a_log(
    tiny_cfg, tmp_path
):
    """Progress counts real images (not the padding of the last batch) against the
    manifest's count."""
    cfg, _, text, lines = _progress_lines("evaluate", tiny_cfg, tmp_path)
    with open(os.path.join(cfg.data_dir, "manifest.json")) as f:
        total = json.load(f)["splits"]["validation"]["num_images"]
    counts = [(int(m.group(1)), int(m.group(2))) for m in map(EVAL_LINE.search, lines[:-1]) if m]
    assert counts and len(counts) == len(lines) - 1, "\n".join(lines)
    assert all(t == total for _, t in counts) and counts[-1][0] == total, counts
    assert [n for n, _ in counts] == sorted(n for n, _ in counts)
    done = EVAL_DONE.search(lines[-1])
    assert done and int(done.group(1)) == total, lines[-1]
    assert "\r" not in text
