"""docs/claims.md: each claim names a test (or says `none yet`), and each named test exists."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLAIMS = ROOT / "docs" / "claims.md"
TEST_ID = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


@cache
def _test_names(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text())
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    )


def _rows() -> list[str]:
    return [
        line
        for line in CLAIMS.read_text().splitlines()
        if line.startswith("| ") and not line.startswith("| claim |")
    ]


def test_every_claim_names_a_test_or_says_it_has_none() -> None:
    """A claim row without a test id must say `none yet`, so the gap is visible in the table."""
    rows = _rows()
    assert len(rows) > 50
    unproven = [row for row in rows if not TEST_ID.search(row)]
    assert all("none yet" in row for row in unproven), unproven


def test_every_named_test_exists() -> None:
    """Each `tests/…py::test_…` in docs/claims.md is a test function in that file."""
    missing = []
    for row in _rows():
        for file, name in TEST_ID.findall(row):
            path = ROOT / file
            if not path.is_file() or name not in _test_names(path):
                missing.append(f"{file}::{name}")
    assert missing == []


def test_the_checker_sees_a_missing_test() -> None:
    """The existence check rejects a made-up id (the check itself is not vacuous)."""
    assert "test_no_such_behaviour" not in _test_names(ROOT / "tests" / "test_gates.py")
    assert "test_every_report_lists_the_eight_gates_in_order" in _test_names(
        ROOT / "tests" / "test_gates.py"
    )
