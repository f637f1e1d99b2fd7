"""Modules that also run in the Ascend container: Python 3.7 syntax and TF 1.15 API only.

check_tf115_api.py resolves names bound by `import tensorflow ...`; these modules bind `tf` through
`from resnext.compat import tf`, which it cannot follow, so it checks copies whose import line is
rewritten to `import tensorflow as tf` (what `tf` is on TF 1.15). compat.py is checked as it is.
"""
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src", "resnext")
CHECKER = os.path.join(os.path.dirname(ROOT), "shared", "tools", "check_tf115_api.py")
COMPAT_IMPORT = "from resnext.compat import tf\n"
CONTAINER_FILES = (["config.py", "atomic.py", "checkpoints.py", "compat.py", "evaluate.py", "export.py",
                    "predictions.py", "intervals.py",
                    "cli.py", "benchmark.py", "ranktable.py", "devicepool.py", "restore.py",
                    "data/pipeline.py", "data/preprocessing.py", "data/tfrecord.py", "data/layouts.py",
                    "data/choice.py"]
                   + [os.path.relpath(p, SRC) for d in ("model", "train", "backends")
                      for p in glob.glob(os.path.join(SRC, d, "*.py"))])


def container_modules():
    return sorted(os.path.join(SRC, f) for f in set(CONTAINER_FILES) if os.path.isfile(os.path.join(SRC, f)))


def test_container_modules_use_only_tf115_api(tmp_path):
    assert os.path.isfile(CHECKER), "the TF 1.15 API checker must sit at %s (../shared/tools)" % CHECKER
    copies, rewritten = [], 0
    for path in container_modules():
        with open(path, encoding="utf-8") as f:
            text = f.read()
        rewritten += COMPAT_IMPORT in text
        copy = tmp_path / os.path.relpath(path, SRC).replace(os.sep, "__")
        copy.write_text(text.replace(COMPAT_IMPORT, "import tensorflow as tf\n"), encoding="utf-8")
        copies.append(str(copy))
    assert rewritten >= 8  # the rewrite really happens, so the checker sees every tf.* use
    run = subprocess.run([sys.executable, CHECKER] + copies, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_container_modules_parse_as_python37():
    vermin = os.path.join(os.path.dirname(sys.executable), "vermin")
    run = subprocess.run([vermin, "--target=3.7-", "--no-tips", "--violations", "--eval-annotations"]
                         + container_modules(), capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
