"""The processor as the API calls it: an httpx client whose every request goes through the
`processor` Dependency (budget → retries with their budget → breaker → bulkhead → attempt
timeout). Each call carries the key the handler derived from (tenant, Idempotency-Key, step), so
a retry, ours or the client's, never charges twice."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx

from examples.payments_api.problems import ProcessorFailed, ProcessorUnavailable
from hardened import ConfigError, DeadlineExceeded, Dependency, offload, remaining
from hardened.deadline import httpx_deadline_hook

__all__ = ["Processor", "processor_client"]

_DEADLINE_MARGIN_S = 0.1  # what the outbound header keeps back, and then some


def _budget_spent() -> bool:
    left = remaining()
    return left is not None and left <= _DEADLINE_MARGIN_S


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


class Processor:
    """Charges and refunds at the processor; failures become 503 problems with Retry-After."""

    deadline_usage = "attempt timeouts, retry waits and X-Request-Timeout capped by remaining()"

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def charge(self, key: str, *, amount: int, currency: str, source: str) -> str:
        """Charge `source` once for `key`; the processor's charge id."""
        body = {"amount": amount, "currency": currency, "source": source}
        return str((await self._post("/charges", key, body))["id"])

    async def refund(self, key: str, *, charge: str, amount: int) -> str:
        """Refund `amount` of `charge` once for `key`; the processor's refund id."""
        return str((await self._post("/refunds", key, {"charge": charge, "amount": amount}))["id"])

    async def _post(self, path: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._client.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError as exc:
            if _budget_spent():  # the client's phase timeouts are capped by the budget too
                raise DeadlineExceeded(
                    "the request's budget ran out calling the processor"
                ) from exc
            raise ProcessorUnavailable(
                f"no answer from the processor ({type(exc).__name__})", retry_after=1.0
            ) from exc
        status = response.status_code
        if status == 504 and _budget_spent():
            # The processor's copy of our budget (X-Request-Timeout) ran out: so did ours.
            raise DeadlineExceeded("the request's budget ran out at the processor")
        if status in (408, 429) or status >= 500:
            raise ProcessorUnavailable(
                f"the processor answered {status}", retry_after=_retry_after(response)
            )
        if status != 201:
            raise ProcessorFailed(f"the processor answered {status}")
        answer: dict[str, Any] = response.json()
        return answer


def processor_client(
    dependency: Dependency,
) -> Callable[[], AbstractAsyncContextManager[Processor]]:
    """The component factory: a client for `PROCESSOR_URL`, read at start."""

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[Processor]:
        url = os.environ.get("PROCESSOR_URL")
        if not url:
            raise ConfigError("PROCESSOR_URL is not set (the processor's base URL)")
        # The bulkhead bounds calls in flight; the connection pool matches it.
        limits = httpx.Limits(max_connections=dependency.config.bulkhead.max_concurrent)
        # Building the transport loads the CA bundle (about 100 ms of blocking work): off the loop.
        inner = await offload(functools.partial(httpx.AsyncHTTPTransport, limits=limits))
        transport = dependency.transport(inner)
        # The hook caps each phase (the wait for a pooled connection too) by the budget left.
        hooks = {"request": [httpx_deadline_hook]}
        async with httpx.AsyncClient(
            base_url=url, transport=transport, event_hooks=hooks
        ) as client:
            yield Processor(client)

    return running
