"""The endpoints: create, read and refund payments. Each step that reaches the processor is
recorded first and keyed by (tenant, Idempotency-Key, step), so retrying it is always safe; the
final write and the stored response commit in one transaction (`idem.transaction()`: the
response travels with the COMMIT, no round trip of its own).

The routes are `@idempotent()`, not `@idempotent(transaction=True)`: that mode would keep the
claim's connection checked out while the processor is called, and a slow processor would then
hold the pool's connections (the pool is sized for two short statements per request)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from examples.payments_api import store
from examples.payments_api.auth import ApiKeys
from examples.payments_api.gateway import Processor
from examples.payments_api.keys import check_fingerprint, claimed, fingerprint
from examples.payments_api.problems import NotFound
from examples.payments_api.validation import parse_payment, parse_refund
from hardened import PostgresPool, body_limit, component, idempotent, route_timeout

__all__ = ["create_payment", "create_refund", "get_payment"]

MAX_BODY = 16 * 1024  # a payment or refund is a few hundred bytes
ROUTE_BUDGET_S = (
    5.0  # the processor's 4 s total (3 attempts of 1 s and their waits), two statements
)


def _payment(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "status": row["status"],
        "amount": row["amount"],
        "currency": row["currency"],
        "refunded": row["refunded"],
        "description": row["description"],
        "created_at": row["created_at"].isoformat(),
    }


def _refund(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "payment_id": str(row["payment_id"]),
        "status": row["status"],
        "amount": row["amount"],
        "reason": row["reason"],
        "created_at": row["created_at"].isoformat(),
    }


def _payment_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["payment_id"])
    except ValueError:
        raise NotFound("payment ids are UUIDs") from None


@idempotent()
@body_limit(MAX_BODY)
@route_timeout(ROUTE_BUDGET_S)
async def create_payment(request: Request) -> Response:
    """`POST /payments`: charge a source once per Idempotency-Key; 201 with the payment."""
    tenant = component(request, ApiKeys).tenant(request.headers.get("authorization"))
    idem = claimed(request)
    payment = parse_payment(await request.body())
    digest = fingerprint("POST /payments", dataclasses.asdict(payment))
    pool = component(request, PostgresPool)
    row = await store.claim_payment(pool, tenant, idem.key, digest, payment)
    check_fingerprint(row["fingerprint"], digest)
    charge = None
    if row["status"] != "succeeded":  # a first attempt, or a retry resuming after a crash
        charge = await component(request, Processor).charge(
            idem.downstream_key("charge"),
            amount=payment.amount,
            currency=payment.currency,
            source=payment.source,
        )
    async with idem.transaction() as transaction:  # the row and the replay commit together
        if charge is not None:
            row = await store.complete_payment(transaction.connection, row["id"], charge)
        response = JSONResponse(_payment(row), 201, {"Location": f"/payments/{row['id']}"})
        transaction.store_on_commit(response)
    return response


async def get_payment(request: Request) -> Response:
    """`GET /payments/{id}`: the tenant's payment; 404 for anyone else's."""
    tenant = component(request, ApiKeys).tenant(request.headers.get("authorization"))
    row = await store.find_payment(component(request, PostgresPool), tenant, _payment_id(request))
    return JSONResponse(_payment(row))


@idempotent()
@body_limit(MAX_BODY)
@route_timeout(ROUTE_BUDGET_S)
async def create_refund(request: Request) -> Response:
    """`POST /payments/{id}/refunds`: refund part or all of what is left, once per key."""
    tenant = component(request, ApiKeys).tenant(request.headers.get("authorization"))
    idem = claimed(request)
    payment_id = _payment_id(request)
    refund = parse_refund(await request.body())
    fields = {"payment": str(payment_id), **dataclasses.asdict(refund)}
    digest = fingerprint("POST /payments/{id}/refunds", fields)
    pool = component(request, PostgresPool)
    row, payment = await store.reserve_refund(
        pool, tenant=tenant, key=idem.key, fingerprint=digest, payment_id=payment_id, refund=refund
    )
    check_fingerprint(row["fingerprint"], digest)
    made = None
    if row["status"] != "succeeded":
        made = await component(request, Processor).refund(
            idem.downstream_key("refund"), charge=payment["charge_id"], amount=row["amount"]
        )
    async with idem.transaction() as transaction:
        if made is not None:
            row = await store.complete_refund(transaction.connection, row["id"], made)
        response = JSONResponse(_refund(row), 201)
        transaction.store_on_commit(response)
    return response
