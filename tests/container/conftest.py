"""Container tests run only when selected (`pytest -m container`, i.e. `make test-container`): they
need the CPU image built first (`make image-cpu`),
so `pytest tests` without that marker skips them."""

from support.markers import register, skip_unless_selected


def pytest_configure(config):
    register(config, "container", "needs the CPU image (podman); run by `make test-container`")


def pytest_collection_modifyitems(config, items):
    skip_unless_selected(
        config,
        items,
        "container",
        "needs the CPU image: run by `make test-container` (pytest -m container)",
    )
