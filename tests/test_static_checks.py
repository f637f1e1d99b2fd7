"""Static checks of the code that runs in the Ascend container (Python 3.7, TF 1.15, npu_bridge),
which cannot run here: Python 3.7 syntax (vermin), the TF 1.15 public API, the real npu_bridge API.

The two API checkers and their tables are not part of this repository: they sit in `../shared/tools`
beside the checkout (CI has them). Without them those two tests skip, naming what is missing; the
syntax check always runs.

The container modules are found, not listed: the stage entry points and every resnext module they
import (at module level or inside a function), so a new module a container stage imports is checked
at once. check_tf115_api.py resolves names bound by `import tensorflow ...`; our modules bind `tf`
through `from resnext.compat import tf`, which it cannot follow, so it checks copies whose import
line is rewritten to `import tensorflow as tf` (what `tf` is on TF 1.15).
"""

import ast
import glob
import os
import subprocess
import sys

import pytest

from support.paths import ROOT

SRC = os.path.join(ROOT, "src", "resnext")
SHARED_TOOLS = os.path.join(os.path.dirname(ROOT), "shared", "tools")
COMPAT_IMPORT = "from resnext.compat import tf\n"
# what the container runs (the `resnext` stages train, train-rank, evaluate, export, benchmark,
# with-device, npu-check, npu-check-rank); cli.py and devicepool.py are checked but not followed:
# cli's host-only stages (convert, report) import their modules lazily
ROOTS = [
    "config.py",
    "compat.py",
    "evaluate.py",
    "export.py",
    "benchmark.py",
    "data/pipeline.py",
    "data/preprocessing.py",
] + [
    os.path.relpath(p, SRC)
    for d in ("model", "train", "backends", "npucheck")
    for p in glob.glob(os.path.join(SRC, d, "*.py"))
]
LEAVES = ("cli.py", "devicepool.py")


def _module_file(name):
    """resnext.x.y -> src/resnext/x/y.py (or its package's __init__.py); None if no such file."""
    path = os.path.join(os.path.dirname(SRC), *name.split("."))
    if os.path.isdir(path):
        return os.path.join(path, "__init__.py")
    return path + ".py" if os.path.isfile(path + ".py") else None


def _imports(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("resnext"):
            names.add(node.module)
            names.update("%s.%s" % (node.module, a.name) for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("resnext"))
    return {f for f in map(_module_file, names) if f}


def container_modules():
    seen, todo = set(), [os.path.join(SRC, r) for r in ROOTS]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(_imports(path))
    return sorted(seen | {os.path.join(SRC, leaf) for leaf in LEAVES})


def _shared_tool(name):
    path = os.path.join(SHARED_TOOLS, name)
    if not os.path.isfile(path):
        pytest.skip("%s is missing (../shared/tools beside the checkout; CI has it)" % path)
    return path


def _run(argv):
    run = subprocess.run(argv, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_container_modules_are_found_through_their_imports():
    found = {os.path.relpath(p, SRC) for p in container_modules()}
    assert {
        "paths.py",
        "atomic.py",
        "checkpoints.py",
        "progress.py",
        "retention.py",
        "ranktable.py",
        "data/tfrecord.py",
        "predictions.py",
        "intervals.py",
        "train/loop.py",
        "backends/npu.py",
        "cli.py",
        "npucheck/ranks.py",
        "data/index.py",
    } <= found
    host_only = [p for p in found if p.startswith("report") or p.startswith("data/convert")]
    assert not host_only and "data/demo.py" not in found


def test_container_modules_parse_as_python37():
    vermin = os.path.join(os.path.dirname(sys.executable), "vermin")
    flags = ["--target=3.7-", "--no-tips", "--violations", "--eval-annotations"]
    _run([vermin] + flags + container_modules())


def test_container_modules_use_only_tf115_api(tmp_path):
    checker = _shared_tool("check_tf115_api.py")
    copies, rewritten = [], 0
    for path in container_modules():
        with open(path, encoding="utf-8") as f:
            text = f.read()
        rewritten += COMPAT_IMPORT in text
        copy = tmp_path / os.path.relpath(path, SRC).replace(os.sep, "__")
        copy.write_text(text.replace(COMPAT_IMPORT, "import tensorflow as tf\n"), encoding="utf-8")
        copies.append(str(copy))
    assert rewritten >= 8  # the rewrite really happens, so the checker sees every tf.* use
    _run([sys.executable, checker] + copies)


def test_npu_bridge_use_matches_the_real_api():
    """Every npu_bridge/hccl name, call and parameter_map key in src/ and in the fake that stands
    in for the adapter (tests/fakes: it may offer nothing the real one lacks), CANN 20.x and new."""
    fakes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakes")
    _run([sys.executable, _shared_tool("check_npu_bridge_api.py"), SRC, fakes])
