"""Request bodies checked field by field: every mistake is a 4xx problem, never a 500.

The limits here are the ones the OpenAPI document (`openapi.py`) publishes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from examples.payments_api.currencies import CURRENCIES
from examples.payments_api.problems import InvalidRequest, MalformedBody

__all__ = [
    "MAX_AMOUNT",
    "MAX_DESCRIPTION",
    "SOURCE_PATTERN",
    "NewPayment",
    "NewRefund",
    "parse_payment",
    "parse_refund",
]

MAX_AMOUNT = 100_000_000  # one million in a two-decimal currency, in minor units
MAX_DESCRIPTION = 500
MAX_REASON = 200
SOURCE_PATTERN = r"^tok_[A-Za-z0-9_]{1,64}$"
_SOURCE = re.compile(SOURCE_PATTERN[1:-1])  # fullmatch: "$" would let a newline through


@dataclass(frozen=True, slots=True)
class NewPayment:
    """A valid `POST /payments` body."""

    amount: int
    currency: str
    source: str
    description: str | None


@dataclass(frozen=True, slots=True)
class NewRefund:
    """A valid `POST /payments/{id}/refunds` body (`amount` None: what is left)."""

    amount: int | None
    reason: str | None


def _object(raw: bytes, *, empty_ok: bool = False) -> dict[str, Any]:
    if empty_ok and not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise MalformedBody("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedBody(f"expected a JSON object, got {type(body).__name__}")
    return body


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown fields: {', '.join(unknown)[:200]}")


def _amount(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest("amount must be an integer number of minor units (1250 = 12.50)")
    if not 1 <= value <= MAX_AMOUNT:
        raise InvalidRequest(f"amount must be between 1 and {MAX_AMOUNT}")
    return value


def _text(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or not _storable(value):
        raise InvalidRequest(f"{name} must be a string of at most {limit} characters")
    return value


def _storable(text: str) -> bool:
    """PostgreSQL text holds no NUL and only valid UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def parse_payment(raw: bytes) -> NewPayment:
    """The payment in `raw`, or `MalformedBody` (400) / `InvalidRequest` (422)."""
    body = _object(raw)
    _only(body, {"amount", "currency", "source", "description"})
    amount = _amount(body.get("amount"))
    currency = body.get("currency")
    if not isinstance(currency, str) or currency not in CURRENCIES:
        raise InvalidRequest("currency must be an ISO 4217 code in upper case, such as EUR")
    source = body.get("source")
    if not isinstance(source, str) or not _SOURCE.fullmatch(source):
        raise InvalidRequest("source must be a card token such as tok_visa")
    description = _text(body, "description", MAX_DESCRIPTION)
    return NewPayment(amount, currency, source, description)


def parse_refund(raw: bytes) -> NewRefund:
    """The refund in `raw` (an empty body refunds what is left)."""
    body = _object(raw, empty_ok=True)
    _only(body, {"amount", "reason"})
    amount = body.get("amount")
    return NewRefund(None if amount is None else _amount(amount), _text(body, "reason", MAX_REASON))
