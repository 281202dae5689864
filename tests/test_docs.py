"""The README and docs/ cannot drift: every flag they name exists in `--help`, every config
argument they write exists on its class, every environment variable is read somewhere."""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hardened
from hardened._cli_args import build_parser
from hardened.components import Components

REPO = Path(__file__).parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMANDS = ("run", "check", "rules", "drill")
# Flags of other tools the docs mention: (flag, the tool it belongs to).
FOREIGN_FLAGS = {
    "--strict": "mypy",
    "--token": "an application's own flag (the redaction example)",
    "--workers": "uvicorn",
    "--limit-concurrency": "uvicorn",
    "--stop-timeout": "docker run",
    "--fork": "unshare",
    "--pid": "unshare",
    "--mount-proc": "unshare",
    "--only": "python -m benchmarks",
}
CALLABLES: dict[str, Any] = {
    "provide": Components.provide,
    "register": Components.register,
    "Components": Components,
}


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    """`hardened <command> --help` of each command, from the real CLI."""
    found = {}
    for command in COMMANDS:
        result = subprocess.run(
            [sys.executable, "-m", "hardened", command, "--help"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        found[command] = result.stdout
    return found


def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end != -1 else len(text)]


def _flags(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*[a-z]", text))


def test_every_flag_in_the_readme_cli_table_is_in_its_commands_help(
    helps: dict[str, str],
) -> None:
    """Each row's flags appear in `hardened <command> --help`, and each flag has help text."""
    table = _section((REPO / "README.md").read_text(), "## The command line")
    rows = [line for line in table.splitlines() if line.startswith("| `hardened ")]
    assert {row.split()[2] for row in rows} == set(COMMANDS)
    for row in rows:
        command, first_cell = row.split()[2], re.split(r"(?<!\\)\|", row)[1]
        for flag in _flags(first_cell):
            assert flag in helps[command], f"{flag} of `hardened {command}` is not in --help"
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    for command, parser in commands.choices.items():
        for action in parser._actions:
            assert action.help, f"{action.option_strings or action.dest} of {command}: no help"


def test_every_flag_the_docs_name_exists(helps: dict[str, str]) -> None:
    """A flag named anywhere in README or docs/ is a hardened flag or a named foreign one."""
    ours = set().union(*(_flags(text) for text in helps.values()))
    for page in PAGES:
        for flag in _flags(page.read_text()):
            assert flag in ours or flag in FOREIGN_FLAGS, f"{page.name}: unknown flag {flag}"


def _calls(text: str) -> Iterator[tuple[str, list[str]]]:
    """(callable name, keyword names) of every `Name(kw=...)` written in the text."""
    for match in re.finditer(r"(?<![\w.])\.?([A-Za-z_]\w*)\(", text):
        depth, index, start = 1, match.end(), match.end()
        while depth and index < len(text):
            depth += {"(": 1, ")": -1}.get(text[index], 0)
            index += 1
        arguments = re.sub(r"\"[^\"\n]*\"|'[^'\n]*'", "''", text[start : index - 1])
        arguments = re.sub(r"#[^\n]*", "", arguments)  # strings and comments are not keywords
        keywords, level = [], 0
        for token in re.finditer(r"[()\[\]{}]|\b([a-z_]\w*)\s*=(?!=)", arguments):
            if token.group(0) in "([{":
                level += 1
            elif token.group(0) in ")]}":
                level -= 1
            elif level == 0 and token.group(1):
                keywords.append(token.group(1))
        yield match.group(1), keywords


def _resolve(name: str) -> Any:
    if name in CALLABLES:
        return CALLABLES[name]
    if hasattr(hardened, name):
        return getattr(hardened, name)
    return None


def test_every_config_argument_the_docs_write_exists() -> None:
    """`Service(...)`, `XConfig(...)`, `SLO(...)`, `provide(...)` keywords exist on the class."""
    checked = 0
    for page in PAGES:
        for name, keywords in _calls(page.read_text()):
            target = _resolve(name)
            if target is None or not keywords:
                continue
            parameters = inspect.signature(target).parameters
            for keyword in keywords:
                assert keyword in parameters, f"{page.name}: {name}({keyword}=...) does not exist"
                checked += 1
    assert checked >= 20  # the README and the gate pages write many


def test_every_name_the_docs_import_from_hardened_exists() -> None:
    """Each `from hardened... import X` line in README and docs/ imports."""
    pattern = re.compile(r"^from (hardened[\w.]*) import ([\w, ]+)$", re.MULTILINE)
    seen = 0
    for page in PAGES:
        for module_name, names in pattern.findall(page.read_text()):
            module = importlib.import_module(module_name)
            for name in (n.strip() for n in names.split(",")):
                assert hasattr(module, name), f"{page.name}: {module_name} has no {name}"
                seen += 1
    assert seen >= 5


def test_every_environment_variable_in_the_readme_is_read() -> None:
    """Each variable in the README's configuration table is read by the code it names."""
    table = _section((REPO / "README.md").read_text(), "## Configuration")
    names = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", table, re.MULTILINE)
    assert "HARDENED_ADMIN_HOST" in names
    sources = [*(REPO / "src").rglob("*.py"), *(REPO / "examples").rglob("*.py")]
    code = "\n".join(path.read_text() for path in sources)
    import uvicorn.config

    code += Path(uvicorn.config.__file__).read_text()  # FORWARDED_ALLOW_IPS is uvicorn's
    for name in names:
        assert f'"{name}"' in code, f"{name} is documented but never read"
    read = set(re.findall(r'os\.environ\.get\("([A-Z][A-Z0-9_]+)"', code))
    undocumented = read - set(names)
    assert not undocumented & {"PORT", "HARDENED_HOST", "HARDENED_ADMIN_PORT"}
