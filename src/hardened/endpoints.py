"""Probes on the public port (`/livez`, `/readyz`) and the admin app (`/gates`, `/metrics`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client.exposition import choose_encoder
from starlette.types import Receive, Scope, Send

from hardened._fields import check_fields
from hardened.errors import BadRequest, ConfigError
from hardened.gates import Tier
from hardened.problems import problem_response, send_problem

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


class Service(Protocol):
    """What the endpoints read of the service they answer for."""

    endpoints: EndpointsConfig
    metrics_registry: CollectorRegistry

    def readiness(self) -> tuple[bool, str]:
        """Whether to take traffic now, and why."""
        ...

    def report(self, tier: Tier | str | None = None) -> dict[str, Any]:
        """The gate report document."""
        ...

    def fact(self, name: str) -> Any:
        """A published fact (`admin.drill`: the drill hooks mounted at `/drill`), or None."""
        ...


__all__ = ["AdminApp", "EndpointsConfig", "public_probes", "send_json"]


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


def _query_tier(scope: Scope) -> Tier | str | None:
    """The `?tier=` asked for: a Tier, the unknown text as given, or None when absent."""
    query = scope.get("query_string", b"").decode("latin-1")
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == "tier":
            return Tier(value) if value in Tier.__members__.values() else value
    return None


async def send_gates(scope: Scope, send: Send, service: Service) -> None:
    """`/gates`: the full report (JSON), checked now; `?tier=` evaluates at another tier
    (an unknown tier is a 400 problem, as `hardened check --tier` refuses it)."""
    tier = _query_tier(scope)
    if isinstance(tier, str) and not isinstance(tier, Tier):
        tiers = ", ".join(t.value for t in Tier)
        detail = f"unknown tier {tier[:40]!r}; tiers are {tiers}"
        await send_problem(send, *problem_response(BadRequest(detail)))
        return
    report = await asyncio.to_thread(service.report, tier)
    await send_json(send, 200, report)


async def send_metrics(scope: Scope, send: Send, service: Service) -> None:
    """`/metrics`: rendered in a thread so that a large scrape cannot stall the event loop."""
    accept = ""
    for name, value in scope.get("headers", []):
        if name == b"accept":
            accept = value.decode("latin-1")
    encoder, content_type = choose_encoder(accept)
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        endpoints = self._service.endpoints
        path = scope["path"]
        if path == endpoints.gates_path:
            await send_gates(scope, send, self._service)
        elif path == endpoints.metrics_path:
            await send_metrics(scope, send, self._service)
        elif path == endpoints.livez_path:
            await send_liveness(send)
        elif path == endpoints.readyz_path:
            await send_readiness(send, self._service)
        elif (path == "/drill" or path.startswith("/drill/")) and self._service.fact("admin.drill"):
            await self._service.fact("admin.drill")(scope, receive, send)
        else:
            await send_json(send, 404, {"status": "not found", "path": path})
