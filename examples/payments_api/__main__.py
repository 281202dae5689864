"""`python -m examples.payments_api` (what `make run` runs): PostgreSQL, the processor and the
API on this machine, each URL printed, a curl to paste. Ctrl-C stops all three cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator

from examples.payments_api.auth import DEMO_KEYS
from hardened.server._runner import RunConfig, run
from hardened.testing import EmbeddedPostgres

STARTUP_TIMEOUT_S = 30.0


@contextlib.contextmanager
def _postgres() -> Iterator[None]:
    """An embedded PostgreSQL in `.pgdata/` unless DATABASE_URL names one."""
    if os.environ.get("DATABASE_URL"):
        yield
        return
    embedded = EmbeddedPostgres(
        os.environ.get("PAYMENTS_PGDATA", ".pgdata/payments-v2"), delete_on_stop=False
    )
    os.environ["DATABASE_URL"] = embedded.url
    print(f"PostgreSQL (embedded)  {embedded.url}", flush=True)
    try:
        yield
    finally:
        embedded.stop()


def _ready(url: str, alive: Callable[[], bool]) -> bool:
    """Poll `url`/readyz until it answers 200 (True) or `alive()` turns False or time is up."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline and alive():
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/readyz", timeout=1) as answer,  # noqa: S310
        ):
            if answer.status == 200:
                return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def _processor() -> Iterator[None]:
    """The processor stand-in in its own process unless PROCESSOR_URL names one."""
    if os.environ.get("PROCESSOR_URL"):
        yield
        return
    port = os.environ.get("PROCESSOR_PORT", "8001")
    command = [sys.executable, "-m", "hardened", "run", "examples.payments_api.processor:app"]
    command += ["--port", port, "--admin-port", str(int(port) + 1000)]
    # Its own session: Ctrl-C reaches the API alone, which drains while the processor it calls
    # is still up; the processor is stopped after it (its log still goes to stderr).
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    os.environ["PROCESSOR_URL"] = url
    try:
        if not _ready(url, lambda: process.poll() is None):
            raise SystemExit(f"the processor did not become ready at {url}")
        print(f"processor (stand-in)   {url}  (GET /charges, POST /faults)", flush=True)
        yield
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@contextlib.contextmanager
def _foreground() -> Iterator[None]:
    """On a terminal, take its foreground: Ctrl-C then reaches the API alone (PostgreSQL and
    the processor were started before, in other groups, and are stopped after it), and `make`
    waits for the demo and exits with its status, 0 after a clean stop."""
    if not sys.stdin.isatty():
        yield
        return
    terminal = sys.stdin.fileno()
    before = os.tcgetpgrp(terminal)
    tty_output = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background tcsetpgrp
    try:
        os.setpgid(0, 0)
        os.tcsetpgrp(terminal, os.getpgrp())
    except OSError:  # a session leader, or no job control: leave the terminal as it is
        signal.signal(signal.SIGTTOU, tty_output)
        yield
        return
    try:
        yield
    finally:
        os.tcsetpgrp(terminal, before)
        signal.signal(signal.SIGTTOU, tty_output)


def _banner(port: int, admin_port: int) -> None:
    """Once the API answers /readyz: where everything is, the demo key, a curl to paste."""
    if not _ready(f"http://127.0.0.1:{port}", lambda: True):
        return  # the start-up failed: its error is on the log, not here
    tenant, _, key = os.environ["PAYMENTS_API_KEYS"].split(",")[0].partition(":")
    api = f"http://127.0.0.1:{port}"
    print(
        f"payments API           {api}  (OpenAPI: {api}/openapi.json)\n"
        f"admin                  http://127.0.0.1:{admin_port}/gates  /metrics\n"
        f"demo API key           {key}  (tenant {tenant})\n\n"
        "Create a payment (run it twice: the second answer is a replay, one charge):\n\n"
        f"  curl -i -X POST {api}/payments \\\n"
        f"    -H 'Authorization: Bearer {key}' \\\n"
        "    -H 'Idempotency-Key: demo-order-1' \\\n"
        "    -H 'Content-Type: application/json' \\\n"
        """    -d '{"amount": 1250, "currency": "EUR", "source": "tok_visa"}'\n\n"""
        "Ctrl-C stops the API, the processor and PostgreSQL.\n",
        flush=True,
    )


def main() -> int:
    """Start PostgreSQL and the processor when not given, then serve the payments API."""
    os.environ.setdefault("PAYMENTS_API_KEYS", DEMO_KEYS)
    port = int(os.environ.get("PORT", "8000"))
    admin_port = int(os.environ.get("HARDENED_ADMIN_PORT", "9000"))
    with _postgres(), _processor(), _foreground():
        from examples.payments_api.app import service

        threading.Thread(target=_banner, args=(port, admin_port), daemon=True).start()
        return run(service, RunConfig(port=port, admin_port=admin_port, log_level="warning"))


if __name__ == "__main__":
    sys.exit(main())
