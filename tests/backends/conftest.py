"""Fixtures for the backend contract tests: the recording npu_bridge fake, NPU configs, rank tables.

tests/fakes goes on sys.path only inside the `fake_bridge` fixture, which takes it off again, gives
tf.Session its own run back (the fake device patches it on import) and drops every npu_bridge*
module afterwards, so no other test can import the fake, or run on its device, by accident.
"""

import sys

import pytest

from backend_helpers import FAKES, drop_bridge_modules
from resnext import ranktable
from support.npu import SERVERS, npu_config


@pytest.fixture
def fake_bridge():
    """The recording npu_bridge fake, importable for this test only; yields the package (CALLS)."""
    drop_bridge_modules()
    sys.path.insert(0, FAKES)
    try:
        import npu_bridge

        assert getattr(npu_bridge, "FAKE", False), "imported a real npu_bridge instead of the fake"
        npu_bridge.reset()
        yield npu_bridge
    finally:
        sys.path.remove(FAKES)
        device = sys.modules.get("npu_bridge._device")
        if device is not None:
            device.uninstall()
        drop_bridge_modules()


@pytest.fixture
def npu_cfg(tmp_path):
    return npu_config(tmp_path)


@pytest.fixture
def table_path(tmp_path, monkeypatch):
    """An 8-device server_list rank table written to tmp_path and exported as RANK_TABLE_FILE."""
    path = str(tmp_path / "rank_table.json")
    ranktable.write_table(path, ranktable.build_table(SERVERS, rank_size=8))
    monkeypatch.setenv("RANK_TABLE_FILE", path)
    return path
