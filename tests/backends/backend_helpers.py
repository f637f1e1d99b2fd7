"""Helpers of the backend tests (the fake's folder); fixtures are in conftest.py."""

import os
import sys

from support.paths import ROOT

FAKES = os.path.join(ROOT, "tests", "fakes")


def drop_bridge_modules():
    for name in [m for m in sys.modules if m == "npu_bridge" or m.startswith("npu_bridge.")]:
        del sys.modules[name]
