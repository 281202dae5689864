"""System tools in tests: a missing tool skips with its install command, and fails under CI."""

from __future__ import annotations

import pytest

from tests._tools import require_tool


def test_missing_tool_skips_naming_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside CI a missing tool skips the test and says which apt package installs it."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install -y no-such-package"):
        require_tool("no-such-tool-hardened", apt="no-such-package")


def test_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """With CI=true a missing tool fails the test instead of hiding behind a skip."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_tool("no-such-tool-hardened", apt="no-such-package")


def test_present_tool_returns_its_path() -> None:
    """A tool on PATH is returned as its absolute path."""
    assert require_tool("sh", apt="dash").endswith("/sh")
