"""The import rule of docs/architecture.md, checked over src/hardened: no stairs going back up."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "hardened"

# Lowest first. A module may import its own layer or a lower one; gate folders may not import
# one another (the deadline folder is the core the gates build on).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("clock", "errors", "problems", "_fields", "faults", "redact"),
    ("components", "gates", "heartbeat", "routes", "stages", "state", "wiring", "deadline"),
    (
        "lifecycle",
        "loop",
        "pool",
        "retry",
        "breaker",
        "idempotency",
        "shutdown",
        "shed",
        "observe",
    ),
    ("stack", "outbound", "endpoints", "_lifespan"),
    ("service",),
    ("server", "_logging"),
    ("cli", "_cli_args", "_cli_errors", "rules", "testing", "drill", "__main__", "__init__"),
)
GATE_LAYER = 2


def _unit(module: str) -> str:
    """The folder or top-level module a dotted module name belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _rank(unit: str) -> int:
    for rank, units in enumerate(LAYERS):
        if unit in units:
            return rank
    raise AssertionError(f"{unit!r} is in no layer: place it in LAYERS and docs/architecture.md")


def _module_name(path: Path) -> str:
    relative = path.relative_to(SRC.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every hardened module `path` imports, at any depth (lazy and type-only imports too)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
    return {name for name in found if name == "hardened" or name.startswith("hardened.")}


def _edges() -> list[tuple[str, str, str]]:
    edges = []
    for path in sorted(SRC.rglob("*.py")):
        source = _module_name(path)
        for target in _imports(path):
            if _unit(source) != _unit(target):
                edges.append((source, target, str(path.relative_to(SRC.parent))))
    return edges


def test_no_import_goes_back_up_a_layer() -> None:
    """Every import between folders points to the same layer or a lower one."""
    upward = [
        f"{where}: {source} → {target}"
        for source, target, where in _edges()
        if _rank(_unit(target)) > _rank(_unit(source))
    ]
    assert upward == []


def test_gates_never_import_one_another() -> None:
    """A gate folder imports base and core only, never another gate folder."""
    across = [
        f"{where}: {source} → {target}"
        for source, target, where in _edges()
        if _rank(_unit(source)) == GATE_LAYER == _rank(_unit(target))
    ]
    assert across == []


def test_no_import_circle_between_folders() -> None:
    """The folders and top-level modules form no cycle (so the layers are a real order)."""
    graph: dict[str, set[str]] = {}
    for source, target, _ in _edges():
        graph.setdefault(_unit(source), set()).add(_unit(target))
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cycle: list[str] = []

    def visit(unit: str, trail: list[str]) -> bool:
        state[unit] = 1
        for nxt in sorted(graph.get(unit, ())):
            if state.get(nxt) == 1:
                cycle.extend([*trail, unit, nxt])
                return True
            if nxt not in state and visit(nxt, [*trail, unit]):
                return True
        state[unit] = 2
        return False

    for unit in sorted(graph):
        if unit not in state and visit(unit, []):
            break
    assert cycle == []


def test_the_rule_sees_real_imports() -> None:
    """The scan finds what it must: the service imports the gates, the driver the stages."""
    targets = {(s, t) for s, t, _ in _edges()}
    assert ("hardened.service", "hardened.stack") in targets
    assert ("hardened.stack", "hardened.stages") in targets
    assert any(s.startswith("hardened.shed.") and t == "hardened.stages" for s, t in targets)
