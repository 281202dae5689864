"""Shared fixtures: real PostgreSQL per session (or DATABASE_URL), FakeClock; the tools banner."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["hardened.testing.pytest_plugin", "tests._tools", "pytester"]

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    """The repository root (the working directory of server subprocesses)."""
    return REPO_ROOT
