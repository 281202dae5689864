"""`hardened run | check | rules`: serve a service, gate a deploy, generate alerting rules.

Exit codes: 0 ok (no gate fails at the tier); 1 a gate fails; 2 a usage, import or connection
error; 3 the service could not start. Errors are one line on stderr (`--log-level debug` adds
the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from hardened._cli_args import build_parser
from hardened._cli_errors import (
    EXIT_GATE_FAILED,
    EXIT_OK,
    EXIT_START,
    EXIT_USAGE,
    StartError,
    UsageError,
    check_listeners,
    env_port,
    load_service,
    print_error,
    require_implementation,
)
from hardened.errors import ConfigError

__all__ = ["UsageError", "load_service", "main"]


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


def _run_config(args: argparse.Namespace) -> Any:
    from hardened.server import RunConfig

    host = args.host or os.environ.get("HARDENED_HOST", "127.0.0.1")
    admin_port = env_port(args.admin_port, "HARDENED_ADMIN_PORT", 9000)
    for path in (args.ssl_keyfile, args.ssl_certfile):
        if path is not None and not os.path.isfile(path):
            raise UsageError(f"TLS file not found: {path}")
    return RunConfig(
        host=host,
        port=env_port(args.port, "PORT", 8000),
        admin_host=args.admin_host or os.environ.get("HARDENED_ADMIN_HOST") or None,
        admin_port=None if admin_port == 0 else admin_port,
        probe_port=env_port(args.probe_port, "HARDENED_PROBE_PORT", 0) or None,
        http=args.http,
        loop=args.loop,
        log_level=args.log_level,
        log_format=args.log_format,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        root_path=args.root_path,
        ssl_keyfile=args.ssl_keyfile,
        ssl_certfile=args.ssl_certfile,
    )


def _cmd_run(args: argparse.Namespace) -> int:
    config = _run_config(args)  # flags and environment first: no import for a bad port
    require_implementation(config.http, config.loop)
    service = load_service(args.app)
    from hardened.server import run

    listeners = [("public listener", config.host, config.port)]
    if config.admin_port is not None:
        listeners.append(("admin listener", config.admin_host or config.host, config.admin_port))
    check_listeners(listeners)
    _print_report(service.report(), as_json=False)
    try:
        return run(service, config)
    except Exception as exc:  # e.g. an unreadable TLS key: the service could not start
        raise StartError(f"the service could not start: {type(exc).__name__}: {exc}") from exc


def _cmd_rules(args: argparse.Namespace) -> int:
    from hardened.rules import render_rules

    service = load_service(args.app)
    print(render_rules(service), end="")
    return EXIT_OK


def _cmd_drill(args: argparse.Namespace) -> int:
    from hardened.drill import drill_command

    return drill_command(args)


def _cmd_check_proof(args: argparse.Namespace) -> int:
    if args.proof is not None:  # `check --proof drill.json`: each gate's last drill
        from hardened.drill import use_proof

        use_proof(args)
    return _cmd_check(args)


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _cmd_run,
    "check": _cmd_check_proof,
    "rules": _cmd_rules,
    "drill": _cmd_drill,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hardened` command."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors exit 2 (one line), --help exits 0
        return int(exc.code or 0)
    debug = args.log_level in ("debug", "trace")
    try:
        return _COMMANDS[args.command](args)
    except (UsageError, ConfigError) as exc:
        print_error(exc, debug=debug)
        return EXIT_USAGE
    except StartError as exc:
        print_error(exc, debug=debug)
        return EXIT_START


if __name__ == "__main__":
    sys.exit(main())
