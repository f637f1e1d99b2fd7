"""Fixtures for the report tests (the fake results trees are built by report_fakes.py)."""
import pytest

from report_fakes import write_tree


@pytest.fixture(autouse=True)
def _no_image_digest(monkeypatch):
    monkeypatch.delenv("RESNEXT_IMAGE_DIGEST", raising=False)
    monkeypatch.delenv("RESNEXT_REFERENCE", raising=False)


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """A demo tree and its built report (built once per test module)."""
    from resnext.report import build_report
    root = tmp_path_factory.mktemp("demo")
    cfg = write_tree(root)
    return cfg, build_report(cfg)
