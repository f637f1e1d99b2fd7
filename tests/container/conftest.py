"""Container tests run only when selected (`pytest -m container`, i.e. `make test-container`): they
need the CPU image built first (`make image-cpu`), so `pytest tests` without that marker skips them."""
import pytest


def pytest_configure(config):
    # also registered in pyproject.toml; repeated here so the marker is known wherever pytest starts
    config.addinivalue_line("markers", "container: needs the CPU image (podman); run by `make test-container`")


def pytest_collection_modifyitems(config, items):
    if "container" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="needs the CPU image: run by `make test-container` (pytest -m container)")
    for item in items:
        if item.get_closest_marker("container") is not None:
            item.add_marker(skip)
