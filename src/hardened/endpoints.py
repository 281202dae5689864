"""Probes on the public port (`/livez`, `/readyz`) and the admin app (`/gates`, `/metrics`).

The admin app answers GET and HEAD only (405 otherwise), renders one report or scrape at a time
within a duty cycle (`ADMIN_DUTY`), with a short queue behind it (503 + Retry-After past it), so
readers cannot crowd the public port on the same loop and process. It falls back to the text
format for an `Accept` header prometheus-client cannot parse. `/gates?refresh=1` redoes the
checks that are cached after start-up (the wiring scan).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client.exposition import choose_encoder
from starlette.types import Receive, Scope, Send

from hardened._fields import check_fields
from hardened.errors import BadRequest, ConfigError
from hardened.gates import GateBoard, Tier
from hardened.problems import problem_response, send_problem

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


class Service(Protocol):
    """What the endpoints read of the service they answer for."""

    endpoints: EndpointsConfig
    metrics_registry: CollectorRegistry
    gates: GateBoard  # `refresh()` redoes the checks gates cache (`/gates?refresh=1`)

    def readiness(self) -> tuple[bool, str]:
        """Whether to take traffic now, and why."""
        ...

    def report(self, tier: Tier | str | None = None) -> dict[str, Any]:
        """The gate report document."""
        ...

    def fact(self, name: str) -> Any:
        """A published fact (`admin.drill`: the drill hooks mounted at `/drill`), or None."""
        ...


__all__ = [
    "ADMIN_DUTY",
    "ADMIN_QUEUE",
    "ADMIN_RENDERS",
    "AdminApp",
    "EndpointsConfig",
    "metrics_encoder",
    "public_probes",
    "send_json",
]

ADMIN_RENDERS = 1  # reports or scrapes rendered at once (each in a thread, holding the GIL)
ADMIN_QUEUE = 16  # admin requests waiting for a render slot before the next gets 503
# The share of time renders may take: after a render of d seconds its slot stays held for
# d * (1 / ADMIN_DUTY - 1), so back-to-back readers cannot keep the GIL from the public port.
ADMIN_DUTY = 0.1
_READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointsConfig:
    """Where probes and the admin endpoints answer."""

    livez_path: str = "/livez"
    readyz_path: str = "/readyz"
    gates_path: str = "/gates"
    metrics_path: str = "/metrics"
    # /gates and /metrics reveal internals; they live on the admin listener unless you say so.
    admin_on_public_port: bool = False

    def __post_init__(self) -> None:
        check_fields(self)
        paths = (self.livez_path, self.readyz_path, self.gates_path, self.metrics_path)
        if any(not path.startswith("/") for path in paths):
            raise ConfigError(f"endpoint paths must start with '/': {paths}")
        if len(set(paths)) != len(paths):
            raise ConfigError(f"endpoint paths must differ: {paths}")


async def send_json(send: Send, status: int, document: Any) -> None:
    """Send `document` as a complete JSON response."""
    body = json.dumps(document, default=str, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


Probe = Callable[[Scope, Send, "Service"], Awaitable[None]]


def public_probes(endpoints: EndpointsConfig) -> dict[str, Probe]:
    """The endpoints the public port answers before the middleware stack, by path."""

    async def liveness(scope: Scope, send: Send, service: Service) -> None:
        await send_liveness(send)

    async def readiness(scope: Scope, send: Send, service: Service) -> None:
        await send_readiness(send, service)

    probes: dict[str, Probe] = {endpoints.livez_path: liveness, endpoints.readyz_path: readiness}
    if endpoints.admin_on_public_port:
        probes[endpoints.gates_path] = send_gates
        probes[endpoints.metrics_path] = send_metrics
    return probes


async def send_liveness(send: Send) -> None:
    """`/livez`: the process is alive and its loop answers; stays 200 through shutdown."""
    await send_json(send, 200, {"status": "alive"})


async def send_readiness(send: Send, service: Service) -> None:
    """`/readyz`: 200 while the service takes traffic; 503 before start and once draining."""
    ready, reason = service.readiness()
    await send_json(send, 200 if ready else 503, {"status": "ready" if ready else reason})


def _query(scope: Scope, name: str) -> str | None:
    query: str = scope.get("query_string", b"").decode("latin-1")
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return value
    return None


def _query_tier(scope: Scope) -> Tier | str | None:
    """The `?tier=` asked for: a Tier, the unknown text as given, or None when absent."""
    value = _query(scope, "tier")
    if value is None:
        return None
    return Tier(value) if value in Tier.__members__.values() else value


async def send_gates(scope: Scope, send: Send, service: Service) -> None:
    """`/gates`: the full report (JSON), checked now; `?tier=` evaluates at another tier
    (an unknown tier is a 400 problem, as `hardened check --tier` refuses it); `?refresh=1`
    redoes the cached checks first."""
    tier = _query_tier(scope)
    if isinstance(tier, str) and not isinstance(tier, Tier):
        tiers = ", ".join(t.value for t in Tier)
        detail = f"unknown tier {tier[:40]!r}; tiers are {tiers}"
        await send_problem(send, *problem_response(BadRequest(detail)))
        return
    if _query(scope, "refresh") in ("1", "true"):
        service.gates.refresh()
    report = await asyncio.to_thread(service.report, tier)
    await send_json(send, 200, report)


def metrics_encoder(accept: str) -> tuple[Callable[[Any], bytes], str]:
    """The exposition format for an `Accept` header; the text format when it cannot be read
    (prometheus-client raises on e.g. `version=abc`)."""
    try:
        return choose_encoder(accept)
    except Exception:  # any parse failure of a client's header
        return choose_encoder("")  # what a scrape without `Accept` gets


async def send_metrics(scope: Scope, send: Send, service: Service) -> None:
    """`/metrics`: rendered in a thread so that a large scrape cannot stall the event loop."""
    accept = ""
    for name, value in scope.get("headers", []):
        if name == b"accept":
            accept = value.decode("latin-1")
    encoder, content_type = metrics_encoder(accept)
    body = await asyncio.to_thread(encoder, service.metrics_registry)
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AdminApp:
    """The admin listener's application: probes, `/gates` and `/metrics`, nothing else."""

    def __init__(self, service: Service) -> None:
        self._service = service
        self._renders = asyncio.Semaphore(ADMIN_RENDERS)
        self._waiting = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/drill" or path.startswith("/drill/"):
            drill = self._service.fact("admin.drill")  # the drill hooks: their token, methods
            if drill is not None:
                await drill(scope, receive, send)
                return
        if scope["method"] not in _READ_METHODS:
            await _send_not_allowed(send)
            return
        endpoints = self._service.endpoints
        if path in (endpoints.gates_path, endpoints.metrics_path):
            await self._render(scope, send, path == endpoints.gates_path)
        elif path == endpoints.livez_path:
            await send_liveness(send)
        elif path == endpoints.readyz_path:
            await send_readiness(send, self._service)
        else:
            await send_json(send, 404, {"status": "not found", "path": path})

    async def _render(self, scope: Scope, send: Send, gates: bool) -> None:
        """One render at a time within the duty cycle; a bounded queue; 503 past it."""
        if self._waiting >= ADMIN_QUEUE:
            body = b'{"status":"busy"}'
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
            ]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        self._waiting += 1
        try:
            await self._renders.acquire()
        finally:
            self._waiting -= 1
        began = time.monotonic()
        try:
            if gates:
                await send_gates(scope, send, self._service)
            else:
                await send_metrics(scope, send, self._service)
        except BaseException:
            self._renders.release()
            raise
        # The pause belongs to the next render, not to this request: a timer gives the turn
        # back, so the answered request's task ends now (a shutdown has nothing to cancel).
        spent = time.monotonic() - began
        pause = min(spent * (1 / ADMIN_DUTY - 1), 2.0)
        asyncio.get_running_loop().call_later(pause, self._renders.release)


async def _send_not_allowed(send: Send) -> None:
    body = b'{"status":"method not allowed"}'
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"allow", b"GET, HEAD"),
    ]
    await send({"type": "http.response.start", "status": 405, "headers": headers})
    await send({"type": "http.response.body", "body": body})
