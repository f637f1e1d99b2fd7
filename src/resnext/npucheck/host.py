"""The host items of `resnext npu-check`: driver and CANN versions (1), the software versions (2)
and the rank table of the devices found (6); and the device IPs the 2-device run (4) uses.

Where the versions live (Ascend's CANN installation guide, "File Paths"): the driver in
/usr/local/Ascend/driver/version.info (`Version=...`); the toolkit in
ascend-toolkit/latest/<arch>-linux/ascend_toolkit_install.info (CANN 8.5 and later:
cann/<arch>-linux/...), nnae in nnae/latest/ascend_nnae_install.info (`version=...`).
Python 3.7 (it runs in the Ascend container).
"""

import glob
import logging
import os
import platform
import re
import shutil
import subprocess

from resnext import devicepool, ranktable
from resnext.npucheck import outcome
from resnext.npucheck.outcome import Failed, Skip, tail_of

log = logging.getLogger(__name__)

ASCEND = "/usr/local/Ascend"
DRIVER_INFO = "driver/version.info"
CANN_INFOS = (
    "ascend-toolkit/latest/*-linux/ascend_toolkit_install.info",
    "cann/*-linux/ascend_toolkit_install.info",
    "nnae/latest/ascend_nnae_install.info",
)
HCCN_CONF = "/etc/hccn.conf"
SMI_TIMEOUT_S = 120
_VERSION = re.compile(r"^\s*version\s*=\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def info_version(path):
    """The `version=` (any case) value of an Ascend install-info file, or None."""
    with open(path, encoding="utf-8", errors="replace") as f:
        match = _VERSION.search(f.read())
    return match.group(1) if match else None


def _npu_smi(log_dir):
    """`npu-smi info` -> its first line naming a version; Failed with its output on an error."""
    out = os.path.join(log_dir, outcome.SMI_OUTPUT)
    with outcome.open_log(out, "wb") as f:
        try:
            code = subprocess.call(
                ["npu-smi", "info"], stdout=f, stderr=subprocess.STDOUT, timeout=SMI_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            raise Failed("npu-smi info did not answer in %d s" % SMI_TIMEOUT_S, tail_of(out))
    if code != 0:
        raise Failed("npu-smi info exited with code %d" % code, tail_of(out))
    text = tail_of(out, lines=1000)
    lines = [t.strip(" |") for t in text.splitlines() if "version" in t.lower()]
    return lines[0] if lines else "ran (no version line)"


def versions_item(log_dir, root=ASCEND):
    """Item 1: npu-smi, the driver and CANN versions. SKIP when none of them is here."""
    found, absent = [], []
    if shutil.which("npu-smi"):
        found.append("npu-smi: %s" % _npu_smi(log_dir))
    else:
        absent.append("npu-smi (not on PATH)")
    driver = os.path.join(root, DRIVER_INFO)
    if os.path.isfile(driver):
        found.append("driver %s" % (info_version(driver) or "? (no Version= in %s)" % driver))
    else:
        absent.append(driver)
    cann = sorted(p for pattern in CANN_INFOS for p in glob.glob(os.path.join(root, pattern)))
    for path in cann:
        found.append("CANN %s (%s)" % (info_version(path) or "?", os.path.relpath(path, root)))
    if not cann:
        absent.append(
            "CANN install info (%s)" % ", ".join(os.path.join(root, p) for p in CANN_INFOS)
        )
    if not found:
        raise Skip("not an Ascend host: absent are " + "; ".join(absent))
    log.info("found: %s; absent: %s", found, absent)
    return "; ".join(found + ["absent: %s" % a for a in absent])


def import_bridge():
    """-> (npu_bridge module, is_the_fake). ImportError when it is not installed."""
    import npu_bridge

    fake = bool(getattr(npu_bridge, "FAKE", False)) or os.path.join(
        "tests", "fakes", "npu_bridge"
    ) in os.path.abspath(getattr(npu_bridge, "__file__", ""))
    return npu_bridge, fake


def _bridge_version(module):
    version = getattr(module, "__version__", None)
    if version:
        return str(version)
    try:
        import pkg_resources

        return pkg_resources.get_distribution("npu_bridge").version
    except Exception:  # noqa: BLE001 - no metadata is an answer ("unknown"), not a fault
        return "unknown (no version metadata)"


def software_item():
    """Item 2: Python, TensorFlow and npu_bridge versions -> (detail, is_the_fake)."""
    from resnext.compat import tf

    python, tf_version = platform.python_version(), tf.version.VERSION
    try:
        module, fake = import_bridge()
    except ImportError as exc:
        raise Failed(
            "npu_bridge cannot be imported (%s): run inside the Ascend TensorFlow 1.15 "
            "image (docker/ascend); Python %s, TensorFlow %s" % (exc, python, tf_version)
        )
    bridge = "fake (%s)" % os.path.dirname(module.__file__) if fake else _bridge_version(module)
    detail = "Python %s, TensorFlow %s, npu_bridge %s" % (python, tf_version, bridge)
    if not fake and not tf_version.startswith("1.15"):
        raise Failed("%s: the Ascend adapter needs TensorFlow 1.15" % detail)
    return detail, fake


def devices_found():
    """Device ids of the /dev/davinci<N> nodes here, ascending."""
    found = [os.path.basename(p)[len("davinci") :] for p in glob.glob("/dev/davinci*")]
    return sorted(int(n) for n in found if n.isdigit())


def check_devices(cfg):
    """The devices the check runs on: those `resnext with-device` gave it, else the
    /dev/davinci<N> found, else npu_device_ids."""
    return devicepool.held_devices() or devices_found() or list(cfg.npu_device_ids)


def _ips_known():
    return os.path.isfile(HCCN_CONF) or bool(shutil.which("hccn_tool"))


def rank_table_item(cfg, out_path):
    """Item 6: the rank table of every device found, device IPs from hccn.conf or hccn_tool."""
    ids = devices_found()
    if not ids:
        raise Skip("no /dev/davinci<N> device here")
    if not _ips_known():
        raise Skip(
            "%d device(s) but neither %s nor hccn_tool: device IPs unknown (list them "
            "under npu_servers)" % (len(ids), HCCN_CONF)
        )
    table = ranktable.build_table(ranktable.host_servers(ids), cfg.rank_table_format, len(ids))
    ranktable.write_table(out_path, table)
    return "%d device(s) %s -> %s" % (len(ids), ids, out_path)


# documentation addresses (RFC 5737): the fake's HCCL never reads them, no device could use them
PLACEHOLDER_IPS = ("192.0.2.1", "192.0.2.2")


def two_device_servers(cfg, fake):
    """Config-style servers for the 2-device run: 2 devices found (or npu_device_ids) with their
    IPs from this host, else npu_servers, else (fake only) placeholder IPs. Skip when none."""
    ids = check_devices(cfg)[:2]
    if len(ids) < 2:
        raise Skip("fewer than 2 devices (%s)" % ids)
    if _ips_known():
        return ranktable.host_servers(ids)
    if cfg.npu_servers:
        first = dict(cfg.npu_servers[0])
        listed = list(first.get("device_ids") or range(len(first["device_ips"])))
        return [
            {
                "server_id": first["server_id"],
                "device_ids": listed[:2],
                "device_ips": list(first["device_ips"])[:2],
            }
        ]
    if fake:
        return [{"server_id": "127.0.0.1", "device_ids": ids, "device_ips": list(PLACEHOLDER_IPS)}]
    raise Skip(
        "device IPs unknown: neither %s nor hccn_tool here, and npu_servers is empty" % HCCN_CONF
    )
