"""Instructions per in-process call, counted by callgrind: a figure a shared machine does not move.

CPU time per request swings by tens of per cent on a busy two-core machine; the number of
instructions the interpreter executes for one call does not (repeat counts agree within about
1 %). Each app is run twice under `valgrind --tool=callgrind` in a fresh interpreter, with the
same warm-up and a different number of calls; the difference over the extra calls is the cost
of one call, start-up and warm-up cancelled out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks._servers import checkout_path

__all__ = ["AppRef", "instructions_per_call", "valgrind_found"]

AppRef = tuple[str, Path | None]
"""An app as "module:attribute", and the checkout to import it from (None: this one)."""

# The request loop run under callgrind. It turns the event loop after every call: slowed down
# fifty-fold, a batch of calls without a turn reads as queue delay to the load shedder, whose
# cheap refusals are not the stack under measurement (a refusal fails the run).
_SCRIPT = """
import asyncio, importlib, logging, sys
logging.disable(logging.WARNING)
module, _, name = sys.argv[1].partition(":")
app = getattr(importlib.import_module(module), name)
calls = int(sys.argv[2])
SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/", "raw_path": b"/",
    "root_path": "", "query_string": b"",
    "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")],
    "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}

async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}

async def main():
    for _ in range(calls):
        sent = []
        async def send(message):
            sent.append(message)
        await app(dict(SCOPE, state={}), receive, send)
        if sent[0]["status"] != 200:
            sys.exit(3)
        await asyncio.sleep(0)

asyncio.run(main())
"""
_COLLECTED = re.compile(r"Collected : (\d+)")


def valgrind_found() -> bool:
    """Whether callgrind can be run here."""
    return shutil.which("valgrind") is not None


def _collected(app: AppRef, calls: int, attempts: int = 3) -> int:
    """Instructions executed by a fresh interpreter making `calls` calls of `app`."""
    ref, checkout = app
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts in every run
    if checkout is not None:
        env["PYTHONPATH"] = checkout_path(checkout)
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-c",
        _SCRIPT,
        ref,
        str(calls),
    ]
    failure = ""
    for _ in range(attempts):
        done = subprocess.run(
            command,
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        found = _COLLECTED.search(done.stderr)
        if done.returncode == 0 and found is not None:
            return int(found.group(1))
        failure = done.stderr[-2000:]
    raise RuntimeError(f"callgrind run of {ref} failed {attempts} times:\n{failure}")


def instructions_per_call(
    apps: Sequence[AppRef], calls: int = 1000, warmup: int = 300, workers: int = 2
) -> list[float]:
    """For each app, the instructions one call costs (in order), `workers` runs at a time."""
    runs = [(app, count) for app in apps for count in (warmup, warmup + calls)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        totals = list(pool.map(lambda run: _collected(*run), runs))
    return [(totals[2 * i + 1] - totals[2 * i]) / calls for i in range(len(apps))]
