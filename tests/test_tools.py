"""A test that needs a missing system tool: a loud skip on a dev machine, a failure in CI."""

from __future__ import annotations

import pytest

TEST = """
from tests._tools import require_tool

def test_needs_it():
    require_tool("no-such-tool-here", apt="no-such-package")
"""


def test_missing_tool_skips_with_a_banner_outside_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside CI the test is skipped and a red banner names it with the install command."""
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(TEST)
    result = pytester.runpytest("-p", "tests._tools", "-p", "no:asyncio")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*NOT RUN: system tools missing*",
            "*test_needs_it did not run: no-such-tool-here is not installed; install it with: "
            "sudo apt-get install -y no-such-package",
        ]
    )


def test_missing_tool_fails_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under CI=true the same test fails, naming the tool and the package."""
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(TEST)
    result = pytester.runpytest("-p", "tests._tools", "-p", "no:asyncio")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*CI=true and *no-such-tool-here is not installed*"])
    result.stdout.no_fnmatch_line("*NOT RUN*")
