"""Helpers shared by tests in several folders (tests/ is put on sys.path by tests/conftest.py)."""
