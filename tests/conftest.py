"""Shared fixtures: real PostgreSQL per session (or DATABASE_URL), FakeClock; the tools banner."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["hardened.testing.pytest_plugin", "tests._tools", "pytester"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long-running tests first (in their order): spread over the workers from the start, they
    do not leave one worker busy after the others are done."""
    items.sort(key=lambda item: item.get_closest_marker("long_running") is None)


@pytest.fixture
def repo_root() -> Path:
    """The repository root (the working directory of server subprocesses)."""
    return REPO_ROOT
