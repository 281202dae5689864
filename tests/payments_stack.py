"""The payments example as the tests run it: the processor and the API as real processes."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hardened.idempotency import derive_key
from hardened.testing import RunningServer, run_server

KEYS = {"acme": "sk_test_acme_e2e", "globex": "sk_test_globex_e2e"}
API_KEYS = ",".join(f"{tenant}:{key}" for tenant, key in KEYS.items())
CARD = {"amount": 1250, "currency": "EUR", "source": "tok_visa"}


@dataclass
class Stack:
    """A running API and its processor."""

    api: RunningServer
    processor: RunningServer

    def pay(
        self, key: str, body: Mapping[str, Any] = CARD, *, tenant: str = "acme", **kw: Any
    ) -> httpx.Response:
        """`POST /payments` as `tenant` with Idempotency-Key `key`."""
        headers = {"Authorization": f"Bearer {KEYS[tenant]}", "Idempotency-Key": key}
        url = f"{self.api.url}/payments"
        return answered(lambda: httpx.post(url, json=dict(body), headers=headers, **kw))

    def refund(
        self,
        payment_id: str,
        key: str,
        body: Mapping[str, Any] | None = None,
        *,
        tenant: str = "acme",
    ) -> httpx.Response:
        """`POST /payments/{id}/refunds` as `tenant`."""
        headers = {"Authorization": f"Bearer {KEYS[tenant]}", "Idempotency-Key": key}
        url = f"{self.api.url}/payments/{payment_id}/refunds"
        return answered(lambda: httpx.post(url, json=body, headers=headers))

    def get(self, payment_id: str, *, tenant: str = "acme") -> httpx.Response:
        """`GET /payments/{id}` as `tenant`."""
        headers = {"Authorization": f"Bearer {KEYS[tenant]}"}
        return answered(lambda: httpx.get(f"{self.api.url}/payments/{payment_id}", headers=headers))

    def charges_for(self, keys: list[str], *, tenant: str = "acme") -> list[dict[str, Any]]:
        """Ledger entries made for these client keys (matched by the derived key)."""
        return charges_made(self.processor.url, keys, tenant=tenant)

    def faults(self, **knobs: Any) -> None:
        """Set the processor's fault knobs (omitted ones reset)."""
        httpx.post(f"{self.processor.url}/faults", json=knobs).raise_for_status()


def charges_made(processor: str, keys: list[str], *, tenant: str = "acme") -> list[dict[str, Any]]:
    """The processor's ledger entries for these client keys (matched by the derived key)."""
    derived = {derive_key(tenant, key, "charge") for key in keys}
    ledger: list[dict[str, Any]] = httpx.get(f"{processor}/charges").json()["charges"]
    return [charge for charge in ledger if charge["key"] in derived]


def shed(response: httpx.Response) -> bool:
    """True for the shedder's 503: the process was saturated (a busy test machine), not wrong."""
    return (
        response.status_code == 503
        and response.headers.get("content-type", "").endswith("problem+json")
        and response.json()["type"].endswith("/load-shed")
    )


def answered(
    call: Callable[[], httpx.Response],
    *,
    attempts: int = 20,
    refused: Callable[[httpx.Response], bool] = shed,
) -> httpx.Response:
    """`call()` again while `refused` says so (by default: shed), pausing as Retry-After asks a
    client to; at most `attempts` calls."""
    response = call()
    for _ in range(attempts - 1):
        if not refused(response):
            break
        time.sleep(0.2)
        response = call()
    return response


def retryable(response: httpx.Response) -> bool:
    """Any 503 with Retry-After: shed, breaker open, processor down."""
    return response.status_code == 503 and "retry-after" in response.headers


def new_key() -> str:
    """A fresh Idempotency-Key."""
    return str(uuid.uuid4())


@contextlib.contextmanager
def payments_stack(repo_root: Path, postgres_url: str, log_dir: Path) -> Iterator[Stack]:
    """Start the processor, then the API pointed at it and at `postgres_url`."""
    processor = "examples.payments_api.processor:app"
    with run_server(processor, cwd=repo_root, admin=False, log_dir=log_dir) as proc:
        env = {
            "DATABASE_URL": postgres_url,
            "PROCESSOR_URL": proc.url,
            "PAYMENTS_API_KEYS": API_KEYS,
        }
        app = "examples.payments_api.app:app"
        with run_server(app, cwd=repo_root, env=env, log_dir=log_dir) as api:
            yield Stack(api, proc)
