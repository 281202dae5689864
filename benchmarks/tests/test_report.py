"""The benchmark report: README markers, the markdown table, the registry and mechanism probe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.__main__ import SUITE_BUDGET_S, main
from benchmarks._plot import plot_overload
from benchmarks._registry import Result, default_stack, not_built
from benchmarks._report import BEGIN, END, render_markdown, update_readme, write_result
from benchmarks.suite import comparisons


def _result() -> Result:
    return Result(
        name="demo",
        title="Demo comparison",
        target="A ≤ 1.1× B",
        verdict="met",
        verdict_detail="A/B = 1.02×",
        columns=["variant", "figure"],
        rows=[{"variant": "A", "figure": "1.0"}, {"variant": "B", "figure": "2.0"}],
        notes=["one note"],
    )


def test_update_readme_replaces_only_the_generated_block(tmp_path: Path) -> None:
    """Text outside the markers survives; the block between them is replaced, not appended."""
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\nhand-written intro\n")
    update_readme(readme, "first\n")
    update_readme(readme, "second\n")
    text = readme.read_text()
    assert text.startswith("# Benchmarks\n\nhand-written intro\n")
    assert text.count(BEGIN) == 1
    assert text.count(END) == 1
    assert "second" in text
    assert "first" not in text


def test_write_result_and_render_markdown(tmp_path: Path) -> None:
    """A result is written as JSON with the machine; the markdown names target, verdict, rows."""
    machine = {
        "nproc": 2,
        "cpu_model": "Test CPU",
        "loadavg_at_start": [0.5, 0.4, 0.3],
        "python": "3.11",
        "platform": "Linux",
        "packages": {"starlette": "1.0"},
        "tools": {"wrk": "4.1"},
    }
    path = write_result(tmp_path, _result(), machine, "python -m benchmarks")
    assert path.name == "demo.json"
    document = json.loads(path.read_text())
    markdown = render_markdown([document])
    assert "| Demo comparison | A ≤ 1.1× B | **met** | A/B = 1.02× |" in markdown
    assert "| B | 2.0 |" in markdown
    assert "- one note" in markdown
    assert "`nproc`: 2; CPU: Test CPU" in markdown
    assert "starlette 1.0" in markdown


def test_every_comparison_is_registered_once_with_a_budget() -> None:
    """The suite lists each comparison once, each with a target and a bounded budget."""
    names = [c.name for c in comparisons()]
    assert names == [
        "edge_overhead",
        "overload",
        "connections",
        "io_bound",
        "shutdown",
        "outbound_overhead",
        "pool_overhead",
        "idempotency_overhead",
        "payments",
    ]
    assert all(c.target and 0 < c.budget_seconds <= 300 for c in comparisons())
    assert sum(c.budget_seconds for c in comparisons()) <= SUITE_BUDGET_S


def test_not_built_names_missing_slots_and_gates() -> None:
    """A slot without a layer or a gate without its mechanism is reported as not built."""
    stack = {"layers": {"shed": None, "observe": "RedLayer"}, "gates": {"shutdown": False}}
    assert not_built(stack, slots=("shed", "observe"), gates=("shutdown",)) == [
        "shed layer",
        "shutdown gate",
    ]
    probed = default_stack()
    assert set(probed["layers"]) >= {"observe", "shed", "deadline", "lifecycle"}
    assert "shutdown" in probed["gates"]


def test_cli_lists_comparisons_and_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    """`--list` names every comparison with its target; a share outside 0..1 is a usage error."""
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(c.name in listed and c.target in listed for c in comparisons())
    with pytest.raises(SystemExit) as exit_info:
        main(["--critical-share", "1.5"])
    assert exit_info.value.code == 2


def test_plot_overload_writes_a_png(tmp_path: Path) -> None:
    """The overload picture is a PNG file drawn from per-second rows."""
    rows = [
        {"t": float(t), "ok": 90.0, "p99_s": 0.2, "timeouts": 0.0, "rejected": 200.0}
        for t in range(3)
    ]
    path = plot_overload({"shedder": rows}, tmp_path / "o.png", title="t", capacity=100.0)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
