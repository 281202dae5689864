"""The flags of `hardened run | check | rules`, each with its help text and default.

Environment variables are not read here: a default that comes from the environment is
resolved when the command that uses it runs, so `PORT=abc hardened check ...` still works.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from hardened._cli_errors import EXIT_USAGE, UsageError, parse_port
from hardened._logging import LOG_FORMATS, LOG_LEVELS
from hardened.gates import Tier

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line on stderr (exit 2), not the usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _port(text: str) -> int:
    try:
        return parse_port(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="log level; 'debug' also prints the traceback behind a one-line error (default: info)",
    )


def _run_flags(run: argparse.ArgumentParser) -> None:
    run.add_argument("app", metavar="MODULE:ATTR", help="the Service, e.g. pkg.app:service")
    run.add_argument(
        "--host", help="bind address of the public listener (default: $HARDENED_HOST or 127.0.0.1)"
    )
    run.add_argument("--port", type=_port, help="public port (default: $PORT or 8000)")
    run.add_argument(
        "--admin-host",
        help="bind address of the admin listener (/gates, /metrics) "
        "(default: $HARDENED_ADMIN_HOST, else the same as --host)",
    )
    run.add_argument(
        "--admin-port",
        type=_port,
        help="port of the admin listener; 0 disables it (default: $HARDENED_ADMIN_PORT or 9000)",
    )
    run.add_argument(
        "--probe-port",
        type=_port,
        help="port answering /livez and /readyz off the event loop, on --host; 0: none "
        "(default: $HARDENED_PROBE_PORT or 0)",
    )
    run.add_argument(
        "--http",
        default="auto",
        choices=["auto", "h11", "httptools"],
        help="HTTP parser: auto picks httptools when installed, else h11 (default: auto)",
    )
    run.add_argument(
        "--loop",
        default="auto",
        choices=["auto", "asyncio", "uvloop"],
        help="event loop: auto picks uvloop when installed, else asyncio (default: auto)",
    )
    _common(run)
    run.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="log lines as text or one JSON object per line; both carry the request ID "
        "(from traceparent, else X-Request-ID, else generated) (default: text)",
    )
    run.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="trust X-Forwarded-For/-Proto from --forwarded-allow-ips (default: on)",
    )
    run.add_argument(
        "--forwarded-allow-ips",
        help="comma-separated proxy addresses (or '*') whose X-Forwarded-* headers are "
        "trusted (default: $FORWARDED_ALLOW_IPS or 127.0.0.1)",
    )
    run.add_argument(
        "--root-path",
        default="",
        help="path prefix the application is mounted under behind a proxy (default: none)",
    )
    run.add_argument("--ssl-keyfile", help="TLS private key file (PEM); needs --ssl-certfile")
    run.add_argument("--ssl-certfile", help="TLS certificate chain file (PEM); needs --ssl-keyfile")


def build_parser() -> argparse.ArgumentParser:
    """The `hardened` parser; each subcommand stores its handler's name in `command`."""
    parser = _Parser(
        prog="hardened",
        description="Serve a hardened Service, gate a deploy on its report, generate its rules. "
        "Exit codes: 0 ok, 1 a gate fails, 2 usage or import error, 3 could not start.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="serve MODULE:ATTR under the hardened runner")
    _run_flags(run)

    check = commands.add_parser("check", help="print the gate report; exit 1 when a gate fails")
    check.add_argument(
        "app", metavar="MODULE:ATTR", nargs="?", help="the Service to import and check"
    )
    check.add_argument(
        "--url", help="read a running instance's /gates instead (e.g. http://pod:9000)"
    )
    check.add_argument(
        "--json", action="store_true", help="print the report document (the same as /gates)"
    )
    check.add_argument(
        "--tier",
        choices=[t.value for t in Tier],
        help="evaluate at this tier (default: the service's own)",
    )
    check.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for --url (default: 5)"
    )
    _common(check)

    rules = commands.add_parser("rules", help="print Prometheus recording and alerting rules")
    rules.add_argument("app", metavar="MODULE:ATTR", help="the Service whose rules to print")
    _common(rules)

    from hardened.drill import add_arguments  # `hardened drill` and `check --proof`

    _common(add_arguments(commands, check))
    return parser
