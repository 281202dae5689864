"""`hardened drill` and `hardened check --proof`: the command-line side of the drills.

Exit codes: 0 every drill that ran passed; 1 a drill failed; 2 usage (one line); 3 the
service could not start.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from hardened._cli_errors import EXIT_GATE_FAILED, EXIT_OK, StartError, UsageError, load_service
from hardened.drill._catalog import CATALOG, select
from hardened.drill._config import TOKEN_ENV, DrillConfig
from hardened.drill._hooks import DrillHooks
from hardened.drill._model import Drill, DrillResult
from hardened.drill._proof import ProofBook
from hardened.drill._runner import document, run_drills, started
from hardened.drill._target import Target
from hardened.gates import GATE_NAMES

__all__ = ["add_arguments", "drill_command", "print_table", "use_proof"]

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


def _on_url(args: argparse.Namespace, drills: list[Drill]) -> Run:
    if args.admin_url is None:
        raise UsageError("--url needs --admin-url (the admin listener: /gates, /metrics)")
    target = Target(url=args.url.rstrip("/"), admin_url=args.admin_url.rstrip("/"))
    target.token = args.token or os.environ.get(TOKEN_ENV) or None
    try:
        service = str(target.report().get("service", "?"))
    except Exception as exc:
        raise UsageError(f"cannot read {args.admin_url}/gates: {exc}") from exc
    results = run_drills(target, drills, allow=set(args.allow), started=False)
    return service, results, {"url": args.url, "admin_url": args.admin_url, "mode": "url"}


def _needs_postgres(service: Any) -> bool:
    """True when the service declares it, or holds a PostgreSQL pool (read from its report)."""
    config = service.fact("drill.config")
    if isinstance(config, DrillConfig) and config.postgres:
        return True
    for gate in service.report()["gates"]:
        if gate["name"] == "pool":
            kinds = {pool.get("kind") for pool in gate["evidence"].get("pools", [])}
            return bool(kinds & {"PostgresPool", "asyncpg.Pool"})
    return False


def _on_start(args: argparse.Namespace, drills: list[Drill]) -> Run:
    try:
        loaded = load_service(args.app)
    except UsageError:
        raise
    except Exception as exc:  # the module raised while being imported
        raise UsageError(f"cannot load {args.app}: {type(exc).__name__}: {exc}") from exc
    postgres = _needs_postgres(loaded)
    try:
        with started(args.app, postgres=postgres) as target:
            results = run_drills(target, drills, allow=set(args.allow), started=True)
    except (RuntimeError, TimeoutError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StartError(f"the service could not start: {first}") from exc
    return str(loaded.name), results, {"app": args.app, "mode": "started"}


def drill_command(args: argparse.Namespace) -> int:
    """`hardened drill`: run the drills, print the table, write the document."""
    if (args.app is None) == (args.url is None):
        raise UsageError("give either MODULE:ATTR or --url URL --admin-url URL")
    known = {drill.name for drill in CATALOG} | {"all"}
    unknown = sorted(set(args.allow) - known)
    if unknown:
        raise UsageError(f"--allow names unknown drills {unknown}; drills are {sorted(known)}")
    stray = sorted(set(args.only or ()) - known - set(GATE_NAMES))
    if stray:
        raise UsageError(f"--only names no gate or drill {stray}")
    began = time.monotonic()
    drills = select(args.only)
    ran = _on_url(args, drills) if args.url is not None else _on_start(args, drills)
    service, results, where = ran
    proof = document(results, service=service, target=where, seconds=time.monotonic() - began)
    print_table(results)
    summary = proof["summary"]
    print(f"{service}: {proof['status'].upper()} ({summary}) in {proof['seconds']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(proof, indent=2) + "\n")
    return EXIT_GATE_FAILED if proof["status"] == "fail" else EXIT_OK


def use_proof(args: argparse.Namespace) -> None:
    """`check --proof`: the service named by `args.app` shows the drill document per gate."""
    if args.app is None:
        raise UsageError("--proof reads a service's gates: give MODULE:ATTR")
    if not Path(args.proof).is_file():
        raise UsageError(f"no drill document at {args.proof}")
    service = load_service(args.app)
    book = service.fact("gates.proof")
    if isinstance(book, ProofBook):
        book.use(Path(args.proof))
    else:
        service.use(DrillHooks(DrillConfig(proof=args.proof)))


def add_arguments(commands: Any, check: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add `hardened drill` to `commands` and `--proof` to `check`; the drill parser."""
    drill: argparse.ArgumentParser = commands.add_parser(
        "drill", help="reproduce each gate's failure mode against a running service"
    )
    drill.add_argument("app", metavar="MODULE:ATTR", nargs="?", help="start this Service")
    drill.add_argument("--url", help="drive a running instance instead (safe drills only)")
    drill.add_argument("--admin-url", help="its admin listener (with --url)")
    drill.add_argument("--token", help=f"drill hook token (default: ${TOKEN_ENV})")
    drill.add_argument("--json", metavar="PATH", help="write the proof document here")
    drill.add_argument(
        "--only", action="append", metavar="GATE|DRILL", help="run only these (repeatable)"
    )
    drill.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="DRILL",
        help="with --url, also run this unsafe drill (repeatable; 'all' for every one)",
    )
    check.add_argument(
        "--proof", metavar="DRILL_JSON", help="show each gate's last drill from this document"
    )
    return drill
