"""A payments-like service behind the idempotency layer, for in-process tests on any store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.idempotency import (
    Idempotency,
    IdempotencyConfig,
    IdempotencyStore,
    idempotency_context,
    idempotent,
    not_idempotent,
)


def tenant_of(connection: HTTPConnection) -> str | None:
    """The principal: the bearer token names the tenant (no token: none)."""
    token = connection.headers.get("authorization", "").removeprefix("Bearer ").strip()
    return token or None


@dataclass
class Effects:
    """Side effects the handlers performed, in order."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0
    hold: asyncio.Event | None = None  # set: order handlers wait for it after their effect
    charges: dict[str, int] = field(default_factory=dict)  # the processor, by its key


def build(
    store: IdempotencyStore, config: IdempotencyConfig | None = None
) -> tuple[Service, Effects]:
    """A service whose order endpoint records each execution in the returned `Effects`."""
    effects = Effects()

    @idempotent()
    async def create_order(request: Request) -> Response:
        body = await request.json()
        context = idempotency_context(request)
        effects.orders.append({"item": body.get("item"), "tenant": context and context.scope})
        number = len(effects.orders)
        if effects.hold is not None:
            await effects.hold.wait()
        return JSONResponse(
            {"order": number, "item": body.get("item")},
            status_code=201,
            headers={
                "Location": f"/orders/{number}",
                "Set-Cookie": "session=s3cr3t",
                "ETag": f'"{number}"',
            },
        )

    @idempotent()
    async def cancel_order(request: Request) -> Response:
        effects.orders.append({"cancelled": request.path_params["order"]})
        return JSONResponse({"cancelled": True})

    @idempotent()
    async def fail(request: Request) -> Response:
        effects.failures += 1
        if effects.failures == 1:
            raise RuntimeError("the first attempt fails")
        return PlainTextResponse("ok", status_code=201)

    @idempotent()
    async def busy(request: Request) -> Response:
        effects.failures += 1
        status = 429 if effects.failures == 1 else 201
        return PlainTextResponse("try later" if status == 429 else "done", status_code=status)

    @idempotent()
    async def reject(request: Request) -> Response:
        effects.failures += 1
        return PlainTextResponse("unknown currency", status_code=400)

    @idempotent()
    async def pay(request: Request) -> Response:
        context = idempotency_context(request)
        assert context is not None
        resumed = context.recovery_point
        if resumed == "started":  # charge the processor with a key of this step
            charge_key = context.downstream_key("charge")
            effects.charges[charge_key] = effects.charges.get(charge_key, 0) + 1
            await context.reach("charged")
        effects.failures += 1
        if effects.failures == 1:
            raise RuntimeError("crashed after the charge, before the local write")
        return JSONResponse({"paid": True, "resumed_from": resumed}, status_code=201)

    @idempotent(required=False)
    async def note(request: Request) -> Response:
        effects.orders.append({"note": True})
        return PlainTextResponse("noted", status_code=201)

    @not_idempotent("webhook deliveries are deduplicated by the event id")
    async def webhook(request: Request) -> Response:
        return PlainTextResponse("ok")

    service = Service(
        "orders",
        routes=[
            Route("/orders", create_order, methods=["POST", "PUT"]),
            Route("/orders/{order}/cancel", cancel_order, methods=["POST"]),
            Route("/fail", fail, methods=["POST"]),
            Route("/reject", reject, methods=["POST"]),
            Route("/busy", busy, methods=["POST"]),
            Route("/notes", note, methods=["POST"]),
            Route("/payments", pay, methods=["POST"]),
            Route("/webhook", webhook, methods=["POST"]),
        ],
        mechanisms=[Idempotency(store, scope=tenant_of, config=config)],
        shed=None,
    )
    return service, effects
