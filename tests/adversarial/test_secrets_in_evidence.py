"""Secrets on PID 1's and the parent's command lines never reach `/gates`."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from hardened.testing import run_server
from tests._tools import in_ci
from tests.adversarial._client import APP
from tests.secrets_table import SECRETS, command_line

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]


def _shell(extra: str) -> list[str]:
    """`sh -c '<secrets> python -m hardened run ...; : <secret flags> <extra>'`: sh stays the
    parent, and its command line holds every secret of the table."""
    program = f'{shlex.quote(sys.executable)} -m hardened "$0" "$@";'
    environment, _, flags = command_line(program).partition(program)
    return ["sh", "-c", f"{environment}{program} : {flags.strip()} {extra}"]


def _report_text(admin_url: str) -> tuple[str, dict[str, Any]]:
    text = httpx.get(f"{admin_url}/gates", timeout=10).text
    return text, json.loads(text)


def _unshare_available() -> bool:
    try:
        return subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_parent_command_line_secrets_are_redacted(repo_root: Path) -> None:
    """A multi-worker-looking shell parent with every table secret: none appears in /gates."""
    with run_server(APP, cwd=repo_root, command=_shell("--workers 2")) as server:
        text, report = _report_text(server.admin_url)
        for child in psutil.Process(server.pid).children():
            child.terminate()  # the shell does not forward SIGTERM to the server
            child.wait(timeout=30)
    for _, secret in SECRETS:
        assert secret not in text
    evidence = report["gates"][0]["evidence"]
    supervisor = evidence["workers"]["supervisor"]
    assert supervisor.startswith("multi-worker parent")
    assert "STRIPE_SECRET_KEY=***" in supervisor
    assert evidence["signals"]["cmdline_values_redacted"] >= 6


@pytest.mark.skipif(
    not in_ci() and not _unshare_available(),
    reason="did not run: needs root and unshare(1) (util-linux) for a new PID namespace",
)
def test_pid1_command_line_secrets_are_redacted(repo_root: Path) -> None:
    """`sh -c 'SECRET=... python ...'` as PID 1: its command line is shown, its secrets not."""
    command = [*UNSHARE, *_shell("")]
    with run_server(APP, cwd=repo_root, command=command) as server:
        text, report = _report_text(server.admin_url)
        server.process.kill()  # a shell as PID 1 never forwards SIGTERM: end the namespace
        server.wait(timeout=10)
    for _, secret in SECRETS:
        assert secret not in text
    signals = report["gates"][0]["evidence"]["signals"]
    assert signals["pid1"] == "sh"
    assert "--token=***" in signals["pid1_cmdline"]
    assert "--password ***" in signals["pid1_cmdline"]
    assert signals["cmdline_values_redacted"] >= len(SECRETS)
