"""The Idempotency-Key a client sends and the fingerprint of what it was sent with.

`hardened.idempotency`'s layer, where installed, answers replays, conflicts and in-flight keys
before the handler runs; the handler keeps its own (tenant, key) rows all the same, because
they are the recovery point: a retry after a crash between the charge and the answer finds the
pending row and charges again under the same derived key, which the processor deduplicates.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.requests import Request

from hardened.errors import IdempotencyKeyInvalid, IdempotencyKeyReused

__all__ = ["check_fingerprint", "fingerprint", "idempotency_key"]

MAX_KEY = 255


def idempotency_key(request: Request) -> str:
    """The request's key: required, 1-255 printable ASCII; `IdempotencyKeyInvalid` (400)."""
    values = request.headers.getlist("idempotency-key")
    if len(values) != 1:
        raise IdempotencyKeyInvalid("send exactly one Idempotency-Key header (a UUID is ideal)")
    key = values[0]
    if not 1 <= len(key) <= MAX_KEY or not all(" " <= c <= "~" for c in key):
        raise IdempotencyKeyInvalid("an Idempotency-Key is 1-255 printable ASCII characters")
    return key


def fingerprint(route: str, fields: dict[str, Any]) -> str:
    """A digest of the route, its path parameters and the parsed body."""
    canonical = json.dumps([route, fields], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def check_fingerprint(stored: str, current: str) -> None:
    """`IdempotencyKeyReused` (422) when a key comes back with a different request."""
    if stored != current:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
