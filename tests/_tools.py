"""System tools in tests: skip with the install command on a dev machine, fail under CI=true.

A skip for a missing tool is also listed in a banner at the end of the run (the
`pytest_terminal_summary` hook below, loaded by `tests/conftest.py`), so a test that proves a
documented behaviour never disappears into the skip count unnoticed.
"""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["MISSING_TOOL", "NOT_RUN", "in_ci", "pytest_terminal_summary", "require_tool"]

MISSING_TOOL = "is not installed; install it with: "
# Every skip for a missing tool or privilege says this (tests/test_lifecycle_pid1.py too).
NOT_RUN = "did not run: "


def in_ci() -> bool:
    """True under CI=true, where a missing system tool fails instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_tool(name: str, *, apt: str) -> str:
    """The path of `name`; skips (or fails in CI) saying which package installs it."""
    path = shutil.which(name)
    if path is not None:
        return path
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    message = f"{test} {NOT_RUN}{name} {MISSING_TOOL}sudo apt-get install -y {apt}"
    if in_ci():
        pytest.fail(f"CI=true and {message} (.ci/run installs it)")
    pytest.skip(message)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """A red banner naming every test a missing system tool (or privilege) kept from running."""
    missing = []
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        if NOT_RUN in reason:
            missing.append(reason.removeprefix("Skipped: "))
    if missing:
        terminalreporter.section(
            "NOT RUN: system tools or privileges missing", sep="!", red=True, bold=True
        )
        for line in missing:
            terminalreporter.line(line, red=True)
