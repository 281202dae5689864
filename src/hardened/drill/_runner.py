"""Run drills against a target; start the service when asked to; the proof document."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hardened.drill._config import TOKEN_ENV
from hardened.drill._model import Drill, DrillResult, Skip
from hardened.drill._target import Target

__all__ = ["DOCUMENT_VERSION", "document", "run_drills", "started"]

DOCUMENT_VERSION = 1
UNSHARE = ("unshare", "--pid", "--fork", "--mount-proc")


def _order(drill: Drill) -> int:
    """Safe drills first, then those users would notice, then those that end a process."""
    return 2 if drill.needs_process else 0 if drill.safe else 1


def run_drills(
    target: Target, drills: list[Drill], *, allow: set[str], started: bool
) -> list[DrillResult]:
    """Each drill's result, in the order given (run in the order that disturbs least)."""
    results: dict[str, DrillResult] = {}
    for drill in sorted(drills, key=_order):
        allowed = started or drill.safe or drill.name in allow or "all" in allow
        target.safe_only = not started and drill.name not in allow and "all" not in allow
        began = time.monotonic()
        if drill.needs_process and target.launcher is None:
            reason = "needs the process: run `hardened drill MODULE:ATTR` to start one"
            results[drill.name] = DrillResult.of(drill, None, skipped=reason, seconds=0.0)
            continue
        if not allowed:
            reason = f"not safe on a running instance; --allow {drill.name} to run it"
            results[drill.name] = DrillResult.of(drill, None, skipped=reason, seconds=0.0)
            continue
        try:
            outcome = drill.run(target)
        except Skip as skip:
            results[drill.name] = DrillResult.of(
                drill, None, skipped=str(skip), seconds=time.monotonic() - began
            )
            continue
        except Exception as exc:  # a drill that breaks reports it; the next one still runs
            result = DrillResult.of(drill, None, skipped=None, seconds=time.monotonic() - began)
            error = f"the drill could not finish: {type(exc).__name__}: {exc}"
            results[drill.name] = dataclasses.replace(result, passed=False, evidence=error)
            continue
        results[drill.name] = DrillResult.of(
            drill, outcome, skipped=None, seconds=time.monotonic() - began
        )
    return [results[drill.name] for drill in drills]


def document(
    results: list[DrillResult], *, service: str, target: Mapping[str, Any], seconds: float
) -> dict[str, Any]:
    """The proof document (docs/drills.md)."""
    ran = [r for r in results if r.passed is not None]
    return {
        "hardened_drill": DOCUMENT_VERSION,
        "service": service,
        "target": dict(target),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 2),
        "status": "fail" if any(r.passed is False for r in ran) else "pass",
        "summary": {
            "passed": sum(1 for r in ran if r.passed),
            "failed": sum(1 for r in ran if not r.passed),
            "skipped": len(results) - len(ran),
        },
        "drills": [r.to_json() for r in results],
    }


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


@contextlib.contextmanager
def started(app: str, *, postgres: bool, startup_timeout: float = 60.0) -> Iterator[Target]:
    """Start `hardened run APP` with drill hooks on (a random token); stop it afterwards.

    A scratch embedded PostgreSQL is started first when the service needs one and
    `DATABASE_URL` is unset.
    """
    from hardened.testing import EmbeddedPostgres, database_url, run_server

    token = secrets.token_urlsafe(24)
    env = {TOKEN_ENV: token}
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hardened-drill-")))
        if postgres and database_url() is None:
            database = EmbeddedPostgres(scratch / "pg", delete_on_stop=True)
            stack.callback(database.stop)
            env["DATABASE_URL"] = database.url

        @contextlib.contextmanager
        def launcher(pid1: bool) -> Iterator[Any]:
            command = None
            if pid1:
                if not _unshare_works():
                    raise Skip("unshare(1) cannot make a PID namespace here (needs root)")
                command = [*UNSHARE, sys.executable, "-m", "hardened"]
            with run_server(
                app,
                env=env,
                command=command,
                log_dir=scratch,
                startup_timeout=startup_timeout,
            ) as server:
                yield server

        server = stack.enter_context(launcher(False))
        yield Target(
            url=server.url,
            admin_url=server.admin_url,
            token=token,
            server=server,
            launcher=launcher,
        )
