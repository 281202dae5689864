"""Payments and refunds in PostgreSQL. No connection is held while the processor is called:
a step claims its row, the call runs, a second statement completes the row.

A refund reserves its amount under a row lock on the payment, with a conditional UPDATE as
the last word (`refunded + amount <= amount`, and a CHECK constraint below that), so
concurrent refunds can never refund more than was paid.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Protocol

from examples.payments_api.problems import NotFound, NotRefundable, RefundTooLarge
from examples.payments_api.validation import NewPayment, NewRefund
from hardened import PostgresPool

__all__ = [
    "apply_schema",
    "claim_payment",
    "complete_payment",
    "complete_refund",
    "find_payment",
    "reserve_refund",
]

Row = dict[str, Any]


class Statements(Protocol):
    """A pool or one checked-out connection (inside a transaction)."""

    async def fetchrow(
        self,
        query: str,
        *args: object,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's per-call timeout
    ) -> Any: ...


SCHEMA = Path(__file__).with_name("schema.sql")
_SCHEMA_LOCK = 0x7061796D  # one replica creates the tables while the others wait


async def apply_schema(pool: PostgresPool) -> None:
    """Create the tables at start (idempotent DDL, serialised across replicas)."""
    schema = SCHEMA.read_text()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute(schema)


async def claim_payment(
    pool: PostgresPool, tenant: str, key: str, fingerprint: str, payment: NewPayment
) -> Row:
    """The pending payment for (tenant, key), created now or found from an earlier attempt."""
    row = await pool.fetchrow(
        "INSERT INTO payments (id, tenant, idempotency_key, fingerprint, amount, currency,"
        " source, description, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending')"
        " ON CONFLICT (tenant, idempotency_key) DO NOTHING RETURNING *",
        uuid.uuid4(),
        tenant,
        key,
        fingerprint,
        payment.amount,
        payment.currency,
        payment.source,
        payment.description,
    )
    if row is None:  # the key was used before: what it was used for decides
        row = await pool.fetchrow(
            "SELECT * FROM payments WHERE tenant = $1 AND idempotency_key = $2", tenant, key
        )
    if row is None:
        raise RuntimeError("a claimed payment vanished")
    return dict(row)


async def complete_payment(db: Statements, payment_id: uuid.UUID, charge_id: str) -> Row:
    """Mark the payment charged (kept as it is when an earlier attempt did)."""
    row = await db.fetchrow(
        "UPDATE payments SET status = 'succeeded', charge_id = coalesce(charge_id, $2)"
        " WHERE id = $1 RETURNING *",
        payment_id,
        charge_id,
    )
    if row is None:
        raise RuntimeError("a claimed payment vanished")
    return dict(row)


async def find_payment(pool: PostgresPool, tenant: str, payment_id: uuid.UUID) -> Row:
    """The tenant's payment; `NotFound` for an unknown id or another tenant's payment."""
    row = await pool.fetchrow(
        "SELECT * FROM payments WHERE id = $1 AND tenant = $2", payment_id, tenant
    )
    if row is None:
        raise NotFound(f"no payment {payment_id}")
    return dict(row)


async def reserve_refund(
    pool: PostgresPool,
    *,
    tenant: str,
    key: str,
    fingerprint: str,
    payment_id: uuid.UUID,
    refund: NewRefund,
) -> tuple[Row, Row]:
    """The refund for (tenant, key) with its payment: reserved now, or found from before."""
    async with pool.acquire() as conn, conn.transaction():
        payment = await conn.fetchrow(
            "SELECT * FROM payments WHERE id = $1 AND tenant = $2 FOR UPDATE", payment_id, tenant
        )
        if payment is None:
            raise NotFound(f"no payment {payment_id}")
        existing = await conn.fetchrow(
            "SELECT * FROM refunds WHERE tenant = $1 AND idempotency_key = $2", tenant, key
        )
        if existing is not None:
            return dict(existing), dict(payment)
        if payment["status"] != "succeeded":
            raise NotRefundable(f"payment {payment_id} is {payment['status']}")
        left = payment["amount"] - payment["refunded"]
        wanted = left if refund.amount is None else refund.amount
        if wanted <= 0 or wanted > left:
            raise RefundTooLarge(f"{left} of {payment['amount']} is left to refund")
        row = await conn.fetchrow(
            "INSERT INTO refunds (id, payment_id, tenant, idempotency_key, fingerprint,"
            " amount, reason, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')"
            " ON CONFLICT (tenant, idempotency_key) DO NOTHING RETURNING *",
            uuid.uuid4(),
            payment_id,
            tenant,
            key,
            fingerprint,
            wanted,
            refund.reason,
        )
        if row is not None:
            # The last word, should the lock ever be dropped: a conditional UPDATE.
            updated = await conn.fetchrow(
                "UPDATE payments SET refunded = refunded + $2"
                " WHERE id = $1 AND refunded + $2 <= amount RETURNING *",
                payment_id,
                wanted,
            )
            if updated is None:
                raise RefundTooLarge(f"{left} of {payment['amount']} is left to refund")
            return dict(row), dict(updated)
    # The key was taken meanwhile for another payment's refund (nothing was written here).
    taken = await pool.fetchrow(
        "SELECT * FROM refunds WHERE tenant = $1 AND idempotency_key = $2", tenant, key
    )
    if taken is None:
        raise RuntimeError("a claimed refund vanished")
    return dict(taken), await find_payment(pool, tenant, payment_id)


async def complete_refund(db: Statements, refund_id: uuid.UUID, processor_id: str) -> Row:
    """Mark the refund made at the processor."""
    row = await db.fetchrow(
        "UPDATE refunds SET status = 'succeeded', processor_id = coalesce(processor_id, $2)"
        " WHERE id = $1 RETURNING *",
        refund_id,
        processor_id,
    )
    if row is None:
        raise RuntimeError("a reserved refund vanished")
    return dict(row)
