"""A test that needs a missing system tool: a loud skip on a dev machine, a failure in CI."""

from __future__ import annotations

import pytest

TEST = """
import pytest
from tests._tools import require_tool

def test_needs_it():
    require_tool("no-such-tool-here", apt="no-such-package")

@pytest.mark.skipif(True, reason="did not run: needs root")
def test_needs_root():
    pass
"""


def test_missing_tool_skips_with_a_banner_outside_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside CI the tests are skipped and a red banner names each, with what it needs."""
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(TEST)
    result = pytester.runpytest("-p", "tests._tools", "-p", "no:asyncio")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*NOT RUN: system tools or privileges missing*",
            "*test_needs_it did not run: no-such-tool-here is not installed; install it with: "
            "sudo apt-get install -y no-such-package",
            "did not run: needs root",
        ]
    )


def test_missing_tool_fails_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under CI=true the same test fails, naming the tool and the package."""
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(TEST)
    result = pytester.runpytest("-p", "tests._tools", "-p", "no:asyncio")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*CI=true and *no-such-tool-here is not installed*"])
