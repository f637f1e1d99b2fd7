"""Fixtures for the report tests (the fake results trees are built by report_fakes.py)."""

import pytest

from report_fakes import write_tree


def _clean_env(monkeypatch):
    monkeypatch.delenv("RESNEXT_IMAGE_DIGEST", raising=False)
    monkeypatch.delenv("RESNEXT_REFERENCE", raising=False)


@pytest.fixture(autouse=True)
def _no_image_digest(monkeypatch):
    _clean_env(monkeypatch)


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory):
    """A demo tree and its built report (built once, before any function fixture; tests only read
    it)."""
    from resnext.report import build_report

    with pytest.MonkeyPatch.context() as monkeypatch:
        _clean_env(monkeypatch)
        cfg = write_tree(tmp_path_factory.mktemp("demo"))
        return cfg, build_report(cfg)
