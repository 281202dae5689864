"""DependencyTransport: an httpx transport that sends every request through a `Dependency`.

``httpx.AsyncClient(transport=dep.transport(httpx.AsyncHTTPTransport()))``: each attempt writes
the remaining budget as `X-Request-Timeout`; 5xx, 408 and 429 answers and transport errors
count as failures and are retried when the method is idempotent or the request carries the
idempotency key header. After the last attempt the caller gets the last answer as it came.
"""

from __future__ import annotations

import email.utils
import math
from typing import TYPE_CHECKING

import httpx

from hardened.deadline import outbound_headers
from hardened.errors import DependencyTimeout
from hardened.outbound._classify import FailedResponse

if TYPE_CHECKING:
    from hardened.outbound._dependency import Dependency

__all__ = ["DependencyTransport", "parse_retry_after"]


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """`Retry-After` as seconds from now (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    seconds = when.timestamp() - now_wall
    return max(0.0, seconds) if math.isfinite(seconds) else None


class DependencyTransport(httpx.AsyncBaseTransport):
    """Wraps `inner` (the transport that does the I/O) in `dependency`'s limits."""

    def __init__(self, dependency: Dependency, inner: httpx.AsyncBaseTransport) -> None:
        self.hardened_dependency = dependency
        self._inner = inner
        self._statuses = dependency.config.failure_statuses
        retry = dependency.config.retry
        self._methods = retry.retry_methods
        self._key_header = retry.idempotency_header

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        dependency = self.hardened_dependency
        replayable = isinstance(request.stream, httpx.ByteStream)  # a streamed body goes once
        try:
            return await dependency.call(
                self._send,
                request,
                idempotent=replayable and request.method in self._methods,
                idempotency_key=request.headers.get(self._key_header) if replayable else None,
            )
        except FailedResponse as failed:
            response = failed.response
            if not isinstance(response, httpx.Response):
                raise
            return response
        except DependencyTimeout as exc:  # httpx callers expect httpx's own timeout
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        except ConnectionError as exc:  # a refusal from outside httpx (a drill's fault)
            raise httpx.ConnectError(str(exc), request=request) from exc

    async def _send(self, request: httpx.Request) -> httpx.Response:
        request.headers.update(outbound_headers())
        response = await self._inner.handle_async_request(request)
        if response.status_code in self._statuses:
            await response.aread()  # an error body is small; read it inside the attempt
            retry_after = parse_retry_after(
                response.headers.get("retry-after"),
                self.hardened_dependency.clock.wall(),
            )
            raise FailedResponse(response, response.status_code, retry_after)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
