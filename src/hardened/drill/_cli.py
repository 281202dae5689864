"""`hardened drill` and `hardened check --proof`: the command-line side of the drills.

Exit codes: 0 every drill that ran passed; 1 a drill failed; 2 usage; 3 the service could
not start.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardened.drill._catalog import CATALOG, select
from hardened.drill._config import TOKEN_ENV, DrillConfig
from hardened.drill._hooks import DrillHooks
from hardened.drill._model import Drill, DrillResult
from hardened.drill._proof import ProofBook
from hardened.drill._runner import document, run_drills, started
from hardened.drill._target import Target
from hardened.gates import GATE_NAMES

__all__ = ["add_cli", "print_table"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_START = 0, 1, 2, 3
Handler = Callable[[argparse.Namespace], int]
Loader = Callable[[str], Any]
Run = tuple[str, list[DrillResult], dict[str, Any]]


def print_table(results: list[DrillResult]) -> None:
    """Per gate: each drill's verdict, what it measured or why it was skipped."""
    for gate in GATE_NAMES:
        rows = [r for r in results if r.gate == gate]
        if not rows:
            continue
        print(gate)
        for row in rows:
            verdict = "SKIP" if row.passed is None else "PASS" if row.passed else "FAIL"
            note = row.skipped_reason if row.passed is None else row.evidence
            print(f"  {verdict:<5}{row.name:<20}{row.seconds:>7.2f} s  {note}")


def _usage(message: str) -> int:
    print(f"hardened: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _on_url(args: argparse.Namespace, drills: list[Drill]) -> Run | int:
    if args.admin_url is None:
        return _usage("--url needs --admin-url (the admin listener: /gates, /metrics)")
    target = Target(url=args.url.rstrip("/"), admin_url=args.admin_url.rstrip("/"))
    target.token = args.token or os.environ.get(TOKEN_ENV) or None
    try:
        service = str(target.report().get("service", "?"))
    except Exception as exc:
        return _usage(f"cannot read {args.admin_url}/gates: {exc}")
    results = run_drills(target, drills, allow=set(args.allow), started=False)
    return service, results, {"url": args.url, "admin_url": args.admin_url, "mode": "url"}


def _on_start(
    args: argparse.Namespace, drills: list[Drill], load: Loader, usage_error: type[Exception]
) -> Run | int:
    try:
        loaded = load(args.app)
    except usage_error as exc:
        return _usage(str(exc))
    except Exception as exc:  # the module raised while being imported
        return _usage(f"cannot load {args.app}: {type(exc).__name__}: {exc}")
    config = loaded.fact("drill.config")
    postgres = bool(config.postgres) if isinstance(config, DrillConfig) else False
    try:
        with started(args.app, postgres=postgres) as target:
            results = run_drills(target, drills, allow=set(args.allow), started=True)
    except (RuntimeError, TimeoutError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"hardened: error: the service could not start: {first}", file=sys.stderr)
        return EXIT_START
    return str(loaded.name), results, {"app": args.app, "mode": "started"}


def _drill(args: argparse.Namespace, load: Loader, usage_error: type[Exception]) -> int:
    if (args.app is None) == (args.url is None):
        return _usage("give either MODULE:ATTR or --url URL --admin-url URL")
    known = {drill.name for drill in CATALOG} | {"all"}
    unknown = sorted(set(args.allow) - known)
    if unknown:
        return _usage(f"--allow names unknown drills {unknown}; drills are {sorted(known)}")
    stray = sorted(set(args.only or ()) - known - set(GATE_NAMES))
    if stray:
        return _usage(f"--only names no gate or drill {stray}")
    began = time.monotonic()
    drills = select(args.only)
    ran = (
        _on_url(args, drills)
        if args.url is not None
        else _on_start(args, drills, load, usage_error)
    )
    if isinstance(ran, int):
        return ran
    service, results, where = ran
    proof = document(results, service=service, target=where, seconds=time.monotonic() - began)
    print_table(results)
    summary = proof["summary"]
    print(f"{service}: {proof['status'].upper()} ({summary}) in {proof['seconds']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(proof, indent=2) + "\n")
    return EXIT_FAILED if proof["status"] == "fail" else EXIT_OK


def _with_proof(check: Handler, load: Loader, usage_error: type[Exception]) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        if args.proof is not None:
            if args.app is None:
                raise usage_error("--proof reads a service's gates: give MODULE:ATTR")
            if not Path(args.proof).is_file():
                raise usage_error(f"no drill document at {args.proof}")
            service = load(args.app)
            book = service.fact("gates.proof")
            if isinstance(book, ProofBook):
                book.use(Path(args.proof))
            else:
                service.use(DrillHooks(DrillConfig(proof=args.proof)))
        return check(args)

    return handler


def add_cli(
    commands: Any, check: argparse.ArgumentParser, *, load: Loader, usage_error: type[Exception]
) -> None:
    """Add `hardened drill` to `commands` and `--proof` to the `check` command."""
    drill = commands.add_parser(
        "drill", help="reproduce each gate's failure mode against a running service"
    )
    drill.add_argument("app", metavar="MODULE:ATTR", nargs="?")
    drill.add_argument("--url", help="drive a running instance (safe drills only)")
    drill.add_argument("--admin-url", help="its admin listener (with --url)")
    drill.add_argument("--token", help=f"drill hook token (default: ${TOKEN_ENV})")
    drill.add_argument("--json", metavar="PATH", help="write the proof document here")
    drill.add_argument("--only", action="append", metavar="GATE|DRILL", help="repeatable")
    drill.add_argument("--allow", action="append", default=[], metavar="DRILL")
    drill.set_defaults(handler=lambda args: _drill(args, load, usage_error))
    check.add_argument("--proof", metavar="DRILL_JSON", help="show each gate's last drill")
    check.set_defaults(handler=_with_proof(check.get_default("handler"), load, usage_error))
