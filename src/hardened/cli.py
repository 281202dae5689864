"""`hardened run | check | rules`: serve a service, gate a deploy, generate alerting rules.

Exit codes: 0 no gate fails at the tier; 1 a gate fails; 2 a usage, import or connection error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from hardened.gates import Tier

__all__ = ["UsageError", "load_service", "main"]

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with how the command was called; reported in one line, exit 2."""


def load_service(reference: str) -> Any:
    """Import `MODULE:ATTR` and return the `Service` it names."""
    from hardened.service import Service

    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(
            f"expected MODULE:ATTR (e.g. examples.payments_api.app:app), got {reference!r}"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import module {module_name!r}: {exc}") from exc
    try:
        target = getattr(module, attr)
    except AttributeError:
        raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not isinstance(target, Service):
        raise UsageError(
            f"{reference} is a {type(target).__name__}, not a hardened.Service; "
            "wrap it: Service(name, app=your_app)"
        )
    return target


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    print(f"{report['service']} at tier {report['tier']}: {report['status'].upper()}")
    for gate in report["gates"]:
        print(f"  {gate['status']:<7} {gate['name']:<12} {gate['question']}")
        for caveat in gate["caveats"]:
            print(f"          - {caveat}")
    for warning in report.get("warnings", []):
        print(f"  warning: {warning}")


def _exit_for(report: dict[str, Any]) -> int:
    return EXIT_GATE_FAILED if report.get("status") == "fail" else EXIT_OK


def _fetch_report(url: str, tier: str | None, timeout: float) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--url needs an http(s) URL, got {url!r}")
    path = parts.path if parts.path not in ("", "/") else "/gates"
    query = urllib.parse.urlencode({"tier": tier}) if tier else parts.query
    target = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, query, ""))
    try:
        with urllib.request.urlopen(target, timeout=timeout) as response:  # noqa: S310
            document: Any = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise UsageError(f"cannot read a gate report from {target}: {exc}") from exc
    if not isinstance(document, dict) or "gates" not in document or "status" not in document:
        raise UsageError(f"{target} did not answer with a gate report")
    return document


def _cmd_check(args: argparse.Namespace) -> int:
    if (args.app is None) == (args.url is None):
        raise UsageError("give either MODULE:ATTR or --url URL")
    if args.url is not None:
        report = _fetch_report(args.url, args.tier, args.timeout)
    else:
        report = load_service(args.app).report(args.tier)
    _print_report(report, args.json)
    return _exit_for(report)


def _cmd_run(args: argparse.Namespace) -> int:
    from hardened.server import RunConfig, run

    service = load_service(args.app)
    admin_port = None if args.admin_port == 0 else args.admin_port
    config = RunConfig(
        host=args.host, port=args.port, admin_port=admin_port, http=args.http, loop=args.loop
    )
    _print_report(service.report(), as_json=False)
    return run(service, config)


def _cmd_rules(args: argparse.Namespace) -> int:
    from hardened.rules import render_rules

    service = load_service(args.app)
    print(render_rules(service), end="")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hardened", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="serve MODULE:ATTR under the hardened runner")
    run.add_argument("app", metavar="MODULE:ATTR")
    run.add_argument("--host", default=os.environ.get("HARDENED_HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    run.add_argument(
        "--admin-port",
        type=int,
        default=int(os.environ.get("HARDENED_ADMIN_PORT", "9000")),
        help="port of the admin listener (/gates, /metrics); 0 disables it",
    )
    run.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
    run.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    run.set_defaults(handler=_cmd_run)

    check = commands.add_parser("check", help="print the gate report; exit 1 when a gate fails")
    check.add_argument("app", metavar="MODULE:ATTR", nargs="?")
    check.add_argument("--url", help="read a running instance's /gates instead")
    check.add_argument("--json", action="store_true", help="print the report document")
    check.add_argument("--tier", choices=[t.value for t in Tier])
    check.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for --url")
    check.set_defaults(handler=_cmd_check)

    rules = commands.add_parser("rules", help="print Prometheus recording and alerting rules")
    rules.add_argument("app", metavar="MODULE:ATTR")
    rules.set_defaults(handler=_cmd_rules)

    from hardened.drill import add_cli  # `hardened drill` and `check --proof`

    add_cli(commands, check, load=load_service, usage_error=UsageError)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hardened` command."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors already
        return int(exc.code or 0)
    try:
        code: int = args.handler(args)
    except UsageError as exc:
        print(f"hardened: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
