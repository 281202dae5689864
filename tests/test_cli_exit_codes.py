"""Exit codes as documented: 2 for usage and import errors, 3 when the service cannot start,
one line on stderr and a traceback only with `--log-level debug`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from hardened.testing import free_ports

BAD_MODULES = {
    "raises_at_import": 'raise RuntimeError("the database URL is missing")\n',
    "syntax_error": "def broken(:\n    pass\n",
    "wrong_config_type": 'from hardened import Service\napp = Service("x", deadline=5)\n',
}


def hardened(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hardened", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def bad_modules(tmp_path: Path) -> Path:
    for name, source in BAD_MODULES.items():
        (tmp_path / f"{name}.py").write_text(source)
    return tmp_path


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("raises_at_import", "RuntimeError: the database URL is missing"),
        ("syntax_error", "SyntaxError"),
        ("wrong_config_type", "Service(deadline=...) must be DeadlineConfig | None, not int 5"),
    ],
)
@pytest.mark.parametrize("command", ["check", "run", "rules"])
def test_a_module_that_fails_to_import_exits_2_with_one_line(
    bad_modules: Path, module: str, message: str, command: str
) -> None:
    """A module raising at import, a SyntaxError or a wrong config type: exit 2, one line."""
    result = hardened(command, f"{module}:app", cwd=bad_modules)
    assert result.returncode == 2
    line = _one_line(result)
    assert line.startswith(f"hardened: error: cannot import module '{module}'")
    assert message in line


def test_log_level_debug_adds_the_traceback(bad_modules: Path) -> None:
    """With --log-level debug the traceback behind the one-line error is printed too."""
    result = hardened("check", "raises_at_import:app", "--log-level", "debug", cwd=bad_modules)
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert 'raise RuntimeError("the database URL is missing")' in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("hardened: error: cannot import")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {"PORT": "abc"}, "PORT must be a port number (0-65535), got 'abc'"),
        ((), {"HARDENED_ADMIN_PORT": "-1"}, "HARDENED_ADMIN_PORT must be a port number"),
        (("--port", "70000"), {}, "argument --port: port must be a port number (0-65535)"),
        (("--port", "8123", "--admin-port", "8123"), {}, "the admin listener needs its own port"),
        (("--ssl-keyfile", "key.pem"), {}, "TLS file not found: key.pem"),
        (("--bogus",), {}, "unrecognized arguments: --bogus"),
    ],
)
def test_bad_flags_and_variables_exit_2_with_one_line(
    repo_root: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    """Bad ports, the same port twice, a missing TLS file, an unknown flag: exit 2, one line."""
    result = hardened("run", "tests.apps.operator_app:app", *args, cwd=repo_root, env=env)
    assert result.returncode == 2
    assert message in _one_line(result)


def test_port_variable_is_not_read_by_check(repo_root: Path) -> None:
    """PORT=abc concerns `run` only: `check` still prints its report."""
    result = hardened(
        "check", "tests.apps.operator_app:app", "--json", cwd=repo_root, env={"PORT": "abc"}
    )
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["service"] == "operator"


@pytest.mark.parametrize(("flag", "package"), [("--loop", "uvloop"), ("--http", "httptools")])
def test_a_missing_loop_or_parser_package_exits_2(
    repo_root: Path, tmp_path: Path, flag: str, package: str
) -> None:
    """--loop uvloop / --http httptools without the package: exit 2 naming what to install."""
    (tmp_path / f"{package}.py").write_text(f'raise ImportError("No module named {package}")\n')
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(repo_root)])}
    result = hardened("run", "tests.apps.operator_app:app", flag, package, cwd=repo_root, env=env)
    assert result.returncode == 2
    line = _one_line(result)
    assert f"{flag} {package} needs the {package} package" in line
    assert f"pip install {package}" in line


@pytest.mark.parametrize("busy", ["public", "admin"])
def test_a_port_in_use_exits_3_with_one_line(repo_root: Path, busy: str) -> None:
    """A busy public or admin port: exit 3 and one line naming the listener, nothing served."""
    port, admin_port = free_ports(2)
    taken = port if busy == "public" else admin_port
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        result = hardened(
            "run", "tests.apps.operator_app:app", "--port", str(port),
            "--admin-port", str(admin_port), cwd=repo_root,
        )  # fmt: skip
    assert result.returncode == 3
    line = _one_line(result)
    assert f"cannot listen on 127.0.0.1:{taken} ({busy} listener)" in line
    assert "FAIL" not in result.stdout  # the report is printed only once the ports are free


def test_a_dotted_attribute_names_the_service(repo_root: Path) -> None:
    """MODULE:ATTR may be dotted (module:holder.service); a wrong part is a one-line exit 2."""
    result = hardened("check", "tests.apps.operator_app:holder.service", "--json", cwd=repo_root)
    assert json.loads(result.stdout)["service"] == "operator"
    missing = hardened("check", "tests.apps.operator_app:holder.nothing", cwd=repo_root)
    assert missing.returncode == 2
    assert "has no attribute 'nothing'" in _one_line(missing)


def test_unreadable_tls_files_exit_3_with_one_line(repo_root: Path, tmp_path: Path) -> None:
    """A key and certificate that are not PEM: the service could not start, exit 3, one line."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    key.write_text("not a key\n")
    cert.write_text("not a certificate\n")
    port, admin_port = free_ports(2)
    result = hardened(
        "run", "tests.apps.operator_app:app", "--port", str(port), "--admin-port",
        str(admin_port), "--ssl-keyfile", str(key), "--ssl-certfile", str(cert), cwd=repo_root,
    )  # fmt: skip
    assert result.returncode == 3
    assert "the service could not start: SSLError" in _one_line(result)
