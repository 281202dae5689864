"""The card processor stand-in: its own process, its own ledger, its own idempotency, fault knobs.

Like a provider's test mode: `POST /charges` and `POST /refunds` take an `Idempotency-Key` (the
API derives it from tenant, client key and step) and make each charge or refund at most once
per key; `GET /charges` and `GET /refunds` list what was actually made, so a test can count
charges. `POST /faults` makes it slow (`latency_s`), failing (`error_rate`, answered 503; with
`error_after_charge` the charge is made first and only the answer is lost) or dead (`hang`:
requests wait until the knob is turned off).

    hardened run examples.payments_api.processor:app --port 8001
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import Service, component
from hardened.problems import problem_body

__all__ = ["Faults", "Ledger", "app", "service"]

HANG_LIMIT_S = 300.0  # a hung request gives up after this, so no task outlives a test run


@dataclass(slots=True)
class Faults:
    """The knobs a drill turns: added latency, a share of 503 answers, a hang."""

    latency_s: float = 0.0
    error_rate: float = 0.0
    hang: bool = False
    error_after_charge: bool = False


@dataclass(slots=True)
class Ledger:
    """Charges and refunds actually made, each once per idempotency key."""

    outbound = False  # in-memory state, no calls out (the deadline gate's wiring scan)

    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    unhung: asyncio.Event = field(default_factory=asyncio.Event)


def _problem(status: int, title: str, detail: str = "") -> Response:
    body = problem_body(status, title, detail=detail)
    return Response(body, status_code=status, media_type="application/problem+json")


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def _suffer(ledger: Ledger) -> None:
    """Apply the latency and hang knobs before any work is done."""
    faults = ledger.faults
    if faults.latency_s > 0:
        await asyncio.sleep(faults.latency_s)
    if faults.hang:
        ledger.unhung.clear()
        await asyncio.wait_for(ledger.unhung.wait(), HANG_LIMIT_S)


async def _make(request: Request, kind: str, fields: tuple[str, ...]) -> Response:
    """Record one charge or refund per key; a repeated key answers the first result."""
    ledger: Ledger = component(request, Ledger)
    key = request.headers.get("idempotency-key")
    body = await _json_object(request)
    if not key or body is None or any(name not in body for name in fields):
        return _problem(400, "Bad request", f"needs Idempotency-Key and {', '.join(fields)}")
    ledger.attempts[key] = ledger.attempts.get(key, 0) + 1
    await _suffer(ledger)
    entries = ledger.charges if kind == "charge" else ledger.refunds
    request_fields = {name: body[name] for name in fields}
    failing = random.random() < ledger.faults.error_rate  # noqa: S311 - a fault knob
    if failing and not ledger.faults.error_after_charge:
        return _problem(503, "Processor unavailable", "injected failure")
    existing = entries.get(key)
    if existing is not None and {n: existing[n] for n in fields} != request_fields:
        return _problem(422, "Idempotency-Key reused", "the key was used for another request")
    if existing is None:
        existing = {"id": f"{kind[:2]}_{uuid.uuid4().hex}", "key": key, **request_fields}
        entries[key] = existing
    existing["requests"] = ledger.attempts[key]  # how many times the key was sent so far
    if failing:
        return _problem(503, "Processor unavailable", "injected failure after the charge")
    return JSONResponse(existing, status_code=201)


async def create_charge(request: Request) -> Response:
    """`POST /charges`: charge a source once per key."""
    return await _make(request, "charge", ("amount", "currency", "source"))


async def create_refund(request: Request) -> Response:
    """`POST /refunds`: refund part of a charge once per key."""
    return await _make(request, "refund", ("charge", "amount"))


async def list_charges(request: Request) -> Response:
    """`GET /charges`: the ledger, one entry per charge made."""
    return JSONResponse({"charges": list(component(request, Ledger).charges.values())})


async def list_refunds(request: Request) -> Response:
    """`GET /refunds`: one entry per refund made."""
    return JSONResponse({"refunds": list(component(request, Ledger).refunds.values())})


def _faults(body: dict[str, Any]) -> Faults | None:
    """Parse fault settings; None when a value is out of range."""
    try:
        faults = Faults(
            latency_s=float(body.get("latency_s", 0.0)),
            error_rate=float(body.get("error_rate", 0.0)),
            hang=bool(body.get("hang", False)),
            error_after_charge=bool(body.get("error_after_charge", False)),
        )
    except (TypeError, ValueError):
        return None
    if not (0 <= faults.latency_s <= 60 and 0 <= faults.error_rate <= 1):
        return None
    return faults


async def set_faults(request: Request) -> Response:
    """`POST /faults`: replace every knob (omitted ones reset); turning hang off frees waiters."""
    ledger: Ledger = component(request, Ledger)
    body = await _json_object(request)
    faults = _faults(body) if body is not None else None
    if faults is None:
        return _problem(422, "Invalid faults", "latency_s in [0, 60], error_rate in [0, 1]")
    ledger.faults = faults
    if not faults.hang:
        ledger.unhung.set()
    return JSONResponse(asdict(faults))


async def get_faults(request: Request) -> Response:
    """`GET /faults`: the knobs in force."""
    return JSONResponse(asdict(component(request, Ledger).faults))


service = Service(
    "payments-processor",
    tier="internal",
    routes=[
        Route("/charges", create_charge, methods=["POST"]),
        Route("/charges", list_charges, methods=["GET"]),
        Route("/refunds", create_refund, methods=["POST"]),
        Route("/refunds", list_refunds, methods=["GET"]),
        Route("/faults", set_faults, methods=["POST"]),
        Route("/faults", get_faults, methods=["GET"]),
    ],
    shed=None,  # a stand-in for someone else's service: it must not shed a drill's requests
)
service.components.register_value(Ledger, Ledger())

app = service
