"""How the command line fails: exit codes, one-line errors, and the checks that produce them.

2 means the command was called wrongly or the application cannot be imported; 3 means the
service could not start. Either way stderr gets one line; the traceback behind it only with
`--log-level debug`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import sys
import traceback
from typing import Any

__all__ = [
    "EXIT_GATE_FAILED",
    "EXIT_OK",
    "EXIT_START",
    "EXIT_USAGE",
    "StartError",
    "UsageError",
    "check_listeners",
    "env_port",
    "load_service",
    "parse_port",
    "print_error",
    "require_implementation",
]

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_START = 0, 1, 2, 3


class UsageError(Exception):
    """A problem with how the command was called or with importing the app; exit 2."""


class StartError(Exception):
    """The service could not start (a port in use, a failed start-up); exit 3."""


def parse_port(text: str, *, source: str = "port") -> int:
    """A TCP port number (0-65535) from `text`, or `UsageError` naming where it came from."""
    try:
        port = int(text)
    except ValueError:
        raise UsageError(f"{source} must be a port number (0-65535), got {text!r}") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"{source} must be a port number (0-65535), got {port}")
    return port


def env_port(flag: int | None, variable: str, default: int) -> int:
    """The flag's value, else the environment variable's, else `default`."""
    if flag is not None:
        return flag
    text = os.environ.get(variable)
    return default if text is None else parse_port(text, source=variable)


def _resolve(module: Any, path: str, reference: str) -> Any:
    target = module
    for part in path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UsageError(f"{reference}: {target!r} has no attribute {part!r}") from None
    return target


def load_service(reference: str) -> Any:
    """Import `MODULE:ATTR` (ATTR may be dotted) and return the `Service` it names."""
    from hardened.service import Service

    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr or "" in attr.split("."):
        raise UsageError(
            f"expected MODULE:ATTR (e.g. examples.payments_api.app:app), got {reference!r}"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a module raising at import, a SyntaxError: all usage errors
        raise UsageError(
            f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    if "." not in attr and not hasattr(module, attr):
        raise UsageError(f"module {module_name!r} has no attribute {attr!r}")
    target = _resolve(module, attr, reference)
    if not isinstance(target, Service):
        raise UsageError(
            f"{reference} is a {type(target).__name__}, not a hardened.Service; "
            "wrap it: Service(name, app=your_app)"
        )
    return target


def require_implementation(http: str, loop: str) -> None:
    """`--http httptools` and `--loop uvloop` need their packages; say which, exit 2."""
    for flag, choice, package in (("--http", http, "httptools"), ("--loop", loop, "uvloop")):
        if choice != package:
            continue
        try:
            importlib.import_module(package)
        except ImportError as exc:
            raise UsageError(
                f"{flag} {choice} needs the {package} package ({exc}); "
                f"install it (pip install {package}) or use {flag} auto"
            ) from exc


def check_listeners(listeners: list[tuple[str, str, int]]) -> None:
    """Bind each (what, host, port) once, as uvicorn will, so a busy port is one line."""
    for what, host, port in listeners:
        if port == 0:
            continue
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise StartError(f"cannot listen on {host}:{port} ({what}): {exc}") from exc
        family, kind, proto, _, address = infos[0]
        with contextlib.closing(socket.socket(family, kind, proto)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                message = exc.strerror or str(exc)
                raise StartError(f"cannot listen on {host}:{port} ({what}): {message}") from exc


def print_error(error: BaseException, *, debug: bool) -> None:
    """One line on stderr; with `debug`, the traceback of what caused it first."""
    if debug:
        cause = error.__cause__ or error
        traceback.print_exception(cause, file=sys.stderr)
    print(f"hardened: error: {error}", file=sys.stderr)
