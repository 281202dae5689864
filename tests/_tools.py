"""System tools in tests: skip with the install command on a dev machine, fail under CI=true."""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["in_ci", "require_tool"]


def in_ci() -> bool:
    """True under CI=true, where a missing system tool fails instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_tool(name: str, *, apt: str) -> str:
    """The path of `name`; skips (or fails in CI) saying which package installs it."""
    path = shutil.which(name)
    if path is not None:
        return path
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    message = f"{test} did not run: {name} is not installed; install it with: "
    message += f"sudo apt-get install -y {apt}"
    if in_ci():
        pytest.fail(f"CI=true and {message} (.ci/run installs it)")
    pytest.skip(message)
