"""Write the mutation score of each mutated module to docs/mutation-scores.md (`make mutate`).

Reads what `mutmut run` left in `mutants/` (one `.meta` file per mutated source file, an exit
code per mutant), counts each module's mutants by outcome, and lists every survivor with its
one-line change and, when it is a known equivalent mutant, why no test can kill it
(`tools/equivalent_mutants.py`). A survivor without a reason is a missing test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tools.equivalent_mutants import EQUIVALENT

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
OUTPUT = ROOT / "docs" / "mutation-scores.md"
TARGET = 0.90

# mutmut's exit codes: 1 and 3 the tests failed, 0 they passed; the rest as mutmut reads them.
KILLED = {1, 3, 24, -24, 152, 255, 36, 37}  # a failure, a timeout or a type-check catch
SURVIVED = {0}


def _mutmut() -> Path:
    return Path(sys.executable).with_name("mutmut")


def _results() -> dict[str, dict[str, int | None]]:
    """Exit code per mutant, by module."""
    by_module: dict[str, dict[str, int | None]] = {}
    for meta in sorted(MUTANTS.glob("src/**/*.py.meta")):
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            module = name.split(".x", 1)[0] if ".x" in name else name.rsplit(".", 1)[0]
            by_module.setdefault(module, {})[name] = code
    return by_module


def _diff(name: str) -> tuple[str, str]:
    """The mutated line before and after (`- old`, `+ new`; a removal shows two `-` lines),
    from `mutmut show`."""
    shown = subprocess.run(
        [str(_mutmut()), "show", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    lines = [
        f"{line[0]} {line[1:].strip()}"
        for line in shown
        if line[:1] in "+-" and not line.startswith(("+++", "---")) and line[1:].strip()
    ]
    return lines[0], lines[1] if len(lines) > 1 else ""


def _reason(name: str, before: str, after: str) -> str | None:
    """Why the survivor `name` is equivalent, when it is a known one."""
    return EQUIVALENT.get((name.rsplit("__mutmut_", 1)[0], before, after))


def render(by_module: dict[str, dict[str, int | None]]) -> tuple[str, bool]:
    """The scores document, and whether every module reached the target."""
    rows = [
        "| module | mutants | killed | survived | not run | score |",
        "|---|---|---|---|---|---|",
    ]
    survivors: list[tuple[str, str]] = []
    all_met = True
    for module, codes in sorted(by_module.items()):
        outcome = Counter(
            "killed" if c in KILLED else "survived" if c in SURVIVED else "other"
            for c in codes.values()
        )
        total = len(codes)
        score = outcome["killed"] / total if total else 1.0
        all_met &= score >= TARGET
        rows.append(
            f"| `{module}` | {total} | {outcome['killed']} | {outcome['survived']} | "
            f"{outcome['other']} | {score:.1%} |"
        )
        survivors += [(module, name) for name, code in codes.items() if code in SURVIVED]
    lines = [
        "# Mutation scores",
        "",
        "Written by `make mutate` (`tools/mutation_scores.py`); do not edit by hand. What is",
        "mutated and how to add a module: [mutation.md](mutation.md). Target: "
        f"{TARGET:.0%} killed in every module.",
        "",
        *rows,
        "",
        "## Survivors",
        "",
    ]
    if not survivors:
        lines.append("None.")
    for _, name in sorted(survivors):
        before, after = _diff(name)
        reason = _reason(name, before, after) or "**no reason: a test is missing**"
        change = " / ".join(f"`{line}`" for line in (before, after) if line)
        lines.append(f"- `{name.rsplit('.', 1)[-1]}` ({change}): {reason}")
    return "\n".join(lines) + "\n", all_met


def main() -> int:
    """Write the document; exit 1 when a module is under the target."""
    if not MUTANTS.is_dir():
        print("no mutants/ folder: run `make mutate`", file=sys.stderr)
        return 2
    text, all_met = render(_results())
    OUTPUT.write_text(text)
    print(text)
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
