"""`python -m examples.payments_api` (what `make run` runs): PostgreSQL, the processor and the
API on this machine, each URL printed, a curl to paste. Ctrl-C stops all three cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

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


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/readyz", timeout=1) as answer,  # noqa: S310
        ):
            if answer.status == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"the processor did not become ready at {url}")


@contextlib.contextmanager
def _processor() -> Iterator[None]:
    """The processor stand-in in its own process unless PROCESSOR_URL names one."""
    if os.environ.get("PROCESSOR_URL"):
        yield
        return
    port = os.environ.get("PROCESSOR_PORT", "8001")
    command = [sys.executable, "-m", "hardened", "run", "examples.payments_api.processor:app"]
    command += ["--port", port, "--admin-port", str(int(port) + 1000)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # its log still on stderr
    url = f"http://127.0.0.1:{port}"
    os.environ["PROCESSOR_URL"] = url
    try:
        _wait_ready(url, process)
        print(f"processor (stand-in)   {url}  (GET /charges, POST /faults)", flush=True)
        yield
    finally:
        try:  # a Ctrl-C reached its process group too: it is draining already
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def _banner(port: int, admin_port: int) -> None:
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
    with _postgres(), _processor():
        from examples.payments_api.app import service

        _banner(port, admin_port)
        return run(service, RunConfig(port=port, admin_port=admin_port, log_level="warning"))


if __name__ == "__main__":
    sys.exit(main())
