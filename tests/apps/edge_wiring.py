"""Wiring evidence: one component that reads the budget, one that does not, one client outside."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.deadline import DeadlineConsumer


class PaymentsClient(DeadlineConsumer):
    """A registered dependency that caps its calls by `remaining()`."""

    deadline_usage = "attempt timeout = min(2 s, remaining())"


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")


# Built at import, outside the Service: the deadline gate must flag it.
legacy_client = httpx.AsyncClient(base_url="http://127.0.0.1:9")

app = Service("wiring", routes=[Route("/hello", hello)])
app.components.register_value(PaymentsClient, PaymentsClient())


@app.components.provide(asyncpg.Pool)
async def pool() -> AsyncIterator[asyncpg.Pool]:
    raise RuntimeError("never started in these tests")
    yield
