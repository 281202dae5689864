"""What a comparison is, what it gets to run with, and what it hands back.

Adding a comparison: write `benchmarks/<name>.py` with a `run(ctx) -> Result` function and a
module-level `COMPARISON = Comparison(...)`, put its servers in `benchmarks/apps/<name>.py`, and
add the module to `benchmarks.suite.comparisons()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Comparison",
    "Context",
    "Result",
    "Row",
    "Verdict",
    "default_stack",
    "not_built",
]


class Verdict:
    """The words the table uses for a target."""

    MET = "met"
    NOT_MET = "not met"
    MEASURED = "measured"
    NOT_AVAILABLE = "not available yet"


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """Everything a comparison may use: sizes, options, folders, the load tool found."""

    quick: bool
    repo_root: Path
    log_dir: Path
    out_dir: Path
    load_tool: str | None
    priority_header: str = "X-Priority"
    critical_share: float = 0.2
    limit_concurrency: int = 100
    seed: int = 1
    # Another checkout of hardened (its repository root) measured beside this one, if given.
    baseline: Path | None = None
    deadline: float = field(default_factory=lambda: time.monotonic() + 20 * 60)

    def rounds(self, full: int) -> int:
        """`full` interleaved rounds, or 1 in quick mode."""
        return 1 if self.quick else full

    def seconds(self, full: float, quick: float) -> float:
        """A duration: `full`, or `quick` in quick mode."""
        return quick if self.quick else full

    def time_left(self) -> float:
        """Seconds left of the suite's budget."""
        return self.deadline - time.monotonic()


Row = dict[str, str]


@dataclass(slots=True, kw_only=True)
class Result:
    """One comparison's outcome: a table (rows of column → text), the verdicts, the raw data."""

    name: str
    title: str
    target: str
    verdict: str
    verdict_detail: str
    columns: list[str]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON document written to results/<name>.json."""
        return {
            "name": self.name,
            "title": self.title,
            "target": self.target,
            "verdict": self.verdict,
            "verdict_detail": self.verdict_detail,
            "columns": self.columns,
            "rows": self.rows,
            "notes": self.notes,
            "plots": self.plots,
            "seconds": round(self.seconds, 1),
            "data": self.data,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """A named side-by-side measurement with a stated target."""

    name: str
    title: str
    target: str
    run: Callable[[Context], Result]
    budget_seconds: float

    def result(self, **fields: Any) -> Result:
        """A `Result` of this comparison (its name, title and target filled in)."""
        return Result(name=self.name, title=self.title, target=self.target, **fields)


def default_stack() -> dict[str, Any]:
    """Which middleware slots and gates a fresh `Service` fills by default, right now.

    Read in the harness process from the installed code, so the table says what was measured.
    """
    from hardened import Service

    service = Service("bench-probe")
    gates = {
        gate["name"]: gate["evidence"].get("configured", True) is not False
        for gate in service.report()["gates"]
    }
    return {"layers": service.layers(), "gates": gates}


def not_built(
    stack: dict[str, Any], *, slots: Sequence[str] = (), gates: Sequence[str] = ()
) -> list[str]:
    """The named mechanisms (slot or gate) the default stack does not have yet."""
    missing = [f"{slot} layer" for slot in slots if stack["layers"].get(slot) is None]
    missing += [f"{gate} gate" for gate in gates if not stack["gates"].get(gate, False)]
    return missing
