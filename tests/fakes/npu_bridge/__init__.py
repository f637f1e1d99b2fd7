"""RECORDING FAKE of the Ascend TF Adapter package `npu_bridge` (tests only; see ../README.md).

Every fake API call appends (name, {argument: value}) to CALLS, in call order. The fake proves
that resnext calls the documented session-mode API; it does not run anything on an NPU.
"""
FAKE = True
CALLS = []


def record(name, **arguments):
    """Append one call to CALLS; -> the arguments dict."""
    CALLS.append((name, dict(arguments)))
    return arguments


def calls(name):
    """The recorded argument dicts of every call to `name`, in order."""
    return [args for called, args in CALLS if called == name]


def reset():
    del CALLS[:]
