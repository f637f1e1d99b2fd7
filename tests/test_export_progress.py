"""Export's progress when its output goes to a log (a file, as under Snakemake's `> {log} 2>&1`):
one plain log line per stage, saying which stage it finished, then a final line; no bar."""
import os
import re
import subprocess
import sys

import yaml

from resnext import checkpoints
from resnext.backends import get_backend
from resnext.train import loop

# 2024-01-01 12:00:00,000 INFO resnext.progress: export: 3/7 stages (42.9%), 2.5s; froze the variables ...
STAGE = re.compile(r" INFO resnext\.progress: export: (\d)/7 stages \(\d+\.\d%\), [\dhms.]+; (.+)$")
DONE = re.compile(r" INFO resnext\.progress: export: done, 7 stages in [\dhms.]+$")


def _export_to_a_log_file(cfg, prefix, folder):
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(cfg.to_dict()))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("RESNEXT_PROGRESS", None)  # auto: the choice between bar and lines is what is tested
    log_path = folder / "export.log"
    with open(str(log_path), "w") as log:
        run = subprocess.run([sys.executable, "-m", "resnext.cli", "export", "--config", str(config),
                              "--checkpoint", prefix], stdout=log, stderr=subprocess.STDOUT, env=env)
    text = log_path.read_text()
    assert run.returncode == 0, text[-3000:]
    return text


def test_export_logs_a_line_per_stage_when_its_output_is_a_log(tiny_cfg, tmp_path):
    cfg = tiny_cfg(eval_batch_size=16)
    loop.train_block(cfg, 4, get_backend(cfg))
    prefix = checkpoints.ckpt_path(cfg.train_dir, 4)
    text = _export_to_a_log_file(cfg, prefix, tmp_path)
    lines = [line for line in text.splitlines() if " resnext.progress: " in line]
    assert lines, text[-3000:]
    stages = [STAGE.search(line) for line in lines[:-1]]
    assert all(stages) and DONE.search(lines[-1]), "\n".join(lines)
    assert [int(m.group(1)) for m in stages] == [1, 2, 3, 4, 5, 6, 7]
    pb_path = os.path.join(cfg.run_dir, "export", "%s.pb" % cfg.arch)
    assert [m.group(2) for m in stages] == [
        "read 16 validation images", "restored %s" % prefix, "froze the variables into constants",
        "ran the checkpoint on the images", "wrote %s" % pb_path, "ran the frozen graph on the images",
        "wrote export.json"]
    assert "\r" not in text and "|" not in "\n".join(lines)  # no bar in a log
