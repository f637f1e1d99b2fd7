"""The host items of npu-check on install trees laid out as Ascend's installation guide lists
them ("File Paths": driver/version.info, ascend-toolkit/latest/<arch>-linux/
ascend_toolkit_install.info), and the rank table of the devices found from an /etc/hccn.conf in
the driver's format (address_<device>=<ip>)."""

import pytest

from resnext import devicepool, ranktable
from resnext.config import load_config
from resnext.npucheck import host
from resnext.npucheck.outcome import Skip
from support.paths import DEMO_CONFIG


def _tree(root):
    (root / "driver").mkdir(parents=True)
    (root / "driver" / "version.info").write_text("Version=23.0.3\nascendhal_version=7.35.19\n")
    toolkit = root / "ascend-toolkit" / "latest" / "aarch64-linux"
    toolkit.mkdir(parents=True)
    (toolkit / "ascend_toolkit_install.info").write_text(
        "package_name=Ascend-cann-toolkit\nversion=7.0.0\ninnerversion=V100R001C15\narch=aarch64\n"
    )
    return root


def test_driver_and_cann_versions_are_read_and_npu_smi_named_when_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no npu-smi
    detail = host.versions_item(str(tmp_path), root=str(_tree(tmp_path / "Ascend")))
    assert "driver 23.0.3" in detail
    assert "CANN 7.0.0 (ascend-toolkit/latest/aarch64-linux/ascend_toolkit_install.info)" in detail
    assert "absent: npu-smi (not on PATH)" in detail


def test_npu_smi_is_run_and_its_version_line_reported(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "npu-smi"
    smi.write_text("#!/bin/sh\necho '| npu-smi 23.0.3   Version: 23.0.3 |'\necho '| 910B |'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    detail = host.versions_item(str(tmp_path), root=str(tmp_path / "none"))
    assert detail.startswith("npu-smi: npu-smi 23.0.3   Version: 23.0.3;")


def test_nothing_installed_skips_naming_every_absent_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(Skip) as caught:
        host.versions_item(str(tmp_path), root="/nonexistent/Ascend")
    reason = str(caught.value)
    assert "npu-smi" in reason and "/nonexistent/Ascend/driver/version.info" in reason
    assert "ascend_toolkit_install.info" in reason


def test_rank_table_of_the_devices_found_from_hccn_conf(tmp_path, monkeypatch):
    conf = tmp_path / "hccn.conf"
    conf.write_text(
        "".join(
            "address_%d=192.168.10%d.11\nnetmask_%d=255.255.255.0\n" % (d, d, d) for d in range(4)
        )
    )
    monkeypatch.setattr(host, "HCCN_CONF", str(conf))
    monkeypatch.setattr(host, "devices_found", lambda: [0, 1, 2, 3])
    real_servers = ranktable.host_servers
    monkeypatch.setattr(
        ranktable, "host_servers", lambda ids: real_servers(ids, conf_path=str(conf))
    )
    cfg = load_config([DEMO_CONFIG])
    out = str(tmp_path / "rank_table.json")
    assert host.rank_table_item(cfg, out).startswith("4 device(s) [0, 1, 2, 3]")
    table = ranktable.load_table(out, 4)
    assert [e.device_ip for e in ranktable.entries(table)] == [
        "192.168.10%d.11" % d for d in range(4)
    ]


def test_rank_table_skips_without_device_ips(monkeypatch, tmp_path):
    monkeypatch.setattr(host, "HCCN_CONF", str(tmp_path / "absent.conf"))
    monkeypatch.setattr(host, "devices_found", lambda: [0, 1])
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(Skip, match="neither .*absent.conf nor hccn_tool"):
        host.rank_table_item(load_config([DEMO_CONFIG]), str(tmp_path / "t.json"))


def test_the_check_runs_on_the_devices_with_device_gave_it(monkeypatch):
    cfg = load_config([DEMO_CONFIG])
    monkeypatch.setenv("RESNEXT_DEVICES", devicepool.device_env([5, 6], base={})["RESNEXT_DEVICES"])
    assert devicepool.held_devices() == [5, 6] and host.check_devices(cfg) == [5, 6]
    monkeypatch.delenv("RESNEXT_DEVICES")
    monkeypatch.setattr(host, "devices_found", lambda: [])
    assert host.check_devices(cfg) == list(cfg.npu_device_ids)
