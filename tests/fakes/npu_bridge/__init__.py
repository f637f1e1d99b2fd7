"""RECORDING FAKE of the Ascend TF Adapter package `npu_bridge` (tests only; see ../README.md).

Every fake API call appends (name, {argument: value}) to CALLS, in call order. Importing the real
package loads the adapter library (its ops and the NpuOptimizer graph pass); importing the fake
installs the fake device (_device.py: the on-device loop, the partition pass's fatal checks).
It does not run anything on an NPU.
"""

from npu_bridge import _device

FAKE = True
CALLS = []
_device.install()


def record(name, **arguments):
    """Append one call to CALLS; -> the arguments dict."""
    CALLS.append((name, dict(arguments)))
    return arguments


def calls(name):
    """The recorded argument dicts of every call to `name`, in order."""
    return [args for called, args in CALLS if called == name]


def reset():
    """Forget the recorded calls and the fake device's loop counts."""
    del CALLS[:]
    del _device.LOOPS[:]
