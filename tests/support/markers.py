"""Markers whose tests run only when selected by name (`pytest -m container`, `pytest -m slurm`)."""

import pytest


def register(config, name, text):
    """Registers the marker (also listed in pyproject.toml, so it is known wherever pytest
    starts)."""
    config.addinivalue_line("markers", "%s: %s" % (name, text))


def skip_unless_selected(config, items, name, reason):
    """Skip every test marked `name` unless the -m expression names it."""
    if name in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker(name) is not None:
            item.add_marker(skip)
