"""The status policy for client faults: answers, recorded statuses, and what the SLO sees."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.requests import ClientDisconnect
from starlette.types import Message

from hardened.errors import BodyTimeout, DeadlineExceeded
from hardened.faults import (
    CALLER,
    CLIENT_FAULT,
    BodyWait,
    ClientFault,
    absorbs,
    expiry_error,
    note_fault,
    recorded,
)
from hardened.observe import SLO, ObserveConfig, RedMetrics
from hardened.observe._red import trace_id_of
from hardened.routes import RouteTemplates


def _scope() -> dict[str, Any]:
    return {"type": "http", "path": "/x", "headers": []}


def test_a_request_without_fault_is_recorded_as_answered() -> None:
    """No fault: the sent status, else 500 (499 when cancelled), on its own route."""
    assert recorded(_scope(), 200, "/x", cancelled=False) == (200, "/x")
    assert recorded(_scope(), 0, "/x", cancelled=False) == (500, "/x")
    assert recorded(_scope(), 0, "/x", cancelled=True) == (499, "/x")


def test_client_faults_are_recorded_as_4xx() -> None:
    """Disconnect 499, malformed body 400, slow body 408: never a 5xx."""
    for fault, status in (
        (ClientFault.DISCONNECT, 499),
        (ClientFault.MALFORMED, 400),
        (ClientFault.SLOW_BODY, 408),
    ):
        scope = _scope()
        note_fault(scope, fault)
        assert recorded(scope, 0, "/x", cancelled=False) == (status, "/x")


def test_the_callers_spent_budget_is_labelled_as_the_callers() -> None:
    """A 504 from the caller's own budget is recorded on the `__caller__` route."""
    scope = _scope()
    note_fault(scope, ClientFault.BUDGET)
    assert recorded(scope, 504, "/x", cancelled=False) == (504, CALLER)


def test_the_first_fault_noted_wins() -> None:
    """A connection closed after a malformed body stays a 400, not a 499."""
    scope = _scope()
    note_fault(scope, ClientFault.MALFORMED)
    note_fault(scope, ClientFault.DISCONNECT)
    assert scope[CLIENT_FAULT] == ClientFault.MALFORMED


def test_expiry_while_waiting_on_the_body_is_the_clients_408() -> None:
    """The budget ran out in `receive()`: 408; elsewhere: 504, the caller's on a header budget."""

    async def main() -> None:
        never: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

        async def receive() -> Message:
            return await never

        body = BodyWait(receive)
        reading = asyncio.ensure_future(body())
        await asyncio.sleep(0)
        scope = _scope()
        error = expiry_error(scope, "service", 10.0, body)
        assert isinstance(error, BodyTimeout)
        assert error.status == 408
        assert error.close  # the rest of the body is never read
        assert scope[CLIENT_FAULT] == ClientFault.SLOW_BODY
        reading.cancel()
        await asyncio.sleep(0)
        assert body.waiting  # cancelled by the budget while waiting: still the client's

        async def ready() -> Message:
            return {"type": "http.request", "body": b"x", "more_body": False}

        answered = BodyWait(ready)
        await answered()
        assert not answered.waiting

    asyncio.run(main())
    service_scope, header_scope = _scope(), _scope()
    assert isinstance(expiry_error(service_scope, "service", 10.0, None), DeadlineExceeded)
    assert CLIENT_FAULT not in service_scope
    assert expiry_error(header_scope, "header", 0.5, None).status == 504
    assert header_scope[CLIENT_FAULT] == ClientFault.BUDGET


def test_client_disconnect_is_absorbed_other_errors_are_not() -> None:
    """ClientDisconnect is the client's, whatever the app "sent" after it; a bug is not."""
    scope = _scope()
    assert absorbs(scope, ClientDisconnect())
    assert recorded(scope, 500, "/x", cancelled=False) == (499, "/x")  # the 500 reached no one
    assert not absorbs(_scope(), ValueError("bug"))
    noted = _scope()
    note_fault(noted, ClientFault.MALFORMED)
    assert absorbs(noted, RuntimeError("the body broke"))


def test_caller_route_is_left_out_of_every_slo() -> None:
    """100 caller 504s and 10 good requests: the in-process burn rate stays 0."""
    slo = SLO(name="availability", objective=0.999)
    metrics = RedMetrics(CollectorRegistry(), ObserveConfig(), (slo,))
    for _ in range(100):
        metrics.record(method="GET", route=CALLER, status=504, duration=0.001, now=5.0)
    for _ in range(10):
        metrics.record(method="GET", route="/x", status=200, duration=0.001, now=5.0)
    assert metrics.trackers[0].burn_rate(6.0, 300) == 0.0
    assert metrics.trackers[0].counts(6.0, 300) == (10, 10)


def test_an_unrouted_refusal_of_a_late_caller_is_labelled_caller() -> None:
    """Refused before routing because its budget was spent: `__caller__`, not `__shed__`."""
    templates = RouteTemplates(object())
    scope = {**_scope(), "hardened.shed": "deadline"}
    note_fault(scope, ClientFault.BUDGET)
    assert templates.template(scope) == CALLER
    assert templates.template({**_scope(), "hardened.shed": "queue"}) == "__shed__"


def test_trace_ids_are_32_lowercase_hex_digits() -> None:
    """Only a valid W3C trace id becomes an exemplar; junk of the right length does not."""
    good = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert trace_id_of(good) == "4bf92f3577b34da6a3ce929d0e0e4736"
    for junk in (
        b"00-" + b"z" * 32 + b"-00f067aa0ba902b7-01",
        b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01",
        b"00-<script>alert(1)</script>xxxxxxxxx-00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6-01",
    ):
        assert trace_id_of(junk) is None, junk


def test_an_answer_before_routing_carries_the_route_it_would_have_reached() -> None:
    """A 413 for a declared length on /upload is labelled /upload; a junk path stays unmatched."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    async def endpoint(request: Any) -> PlainTextResponse:
        return PlainTextResponse("")

    app = Starlette(
        routes=[
            Route("/upload", endpoint, methods=["POST"]),
            Mount("/v1", routes=[Route("/items/{item}", endpoint, methods=["PUT"])]),
        ]
    )
    templates = RouteTemplates(app)

    def label(method: str, path: str) -> str:
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
        return templates.template(scope)

    assert label("POST", "/upload") == "/upload"
    assert label("PUT", "/v1/items/7") == "/v1/items/{item}"
    assert label("GET", "/upload") == "__unmatched__"  # a 405 is not this route's work
    assert label("POST", "/wp-admin.php") == "__unmatched__"
