"""The container-side modules written for the NPU runtime pass the two static checks the design asks
for: Python 3.7 syntax (vermin) and the TF 1.15 public API (shared/tools/check_tf115_api.py)."""
import os
import shutil
import subprocess
import sys

import pytest

from backend_helpers import ROOT

MODULES = [os.path.join(ROOT, "src", "resnext", p)
           for p in ("backends/npu.py", "ranktable.py", "devicepool.py")]
TF115_CHECK = os.path.join(os.path.dirname(ROOT), "shared", "tools", "check_tf115_api.py")


def test_python37_syntax():
    vermin = shutil.which("vermin") or os.path.join(os.path.dirname(sys.executable), "vermin")
    if not os.path.exists(vermin):
        pytest.skip("vermin not installed")
    out = subprocess.run([vermin, "--target=3.7-", "--no-tips", "--violations", "--eval-annotations"] + MODULES,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert out.returncode == 0, out.stdout.decode()


def test_tf115_public_api_only():
    if not os.path.isfile(TF115_CHECK):
        pytest.skip("shared/tools/check_tf115_api.py not present")
    out = subprocess.run([sys.executable, TF115_CHECK] + MODULES, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert out.returncode == 0, out.stdout.decode()
