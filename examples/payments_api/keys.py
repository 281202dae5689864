"""The claimed Idempotency-Key of a request and the fingerprint of what it was sent with.

`hardened.idempotency`'s layer claims the key before the handler runs and answers replays
(`Idempotent-Replayed: true`), conflicts (409) and reuse (422) itself. The handlers keep their own
(tenant, key) rows all the same: they are the recovery point. A retry after a crash between the
charge and the answer finds the pending row and charges again under the same derived key
(`downstream_key`), which the processor deduplicates; and a key reused for another body after
the layer's retention is still refused.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.requests import Request

from hardened import idempotency_context
from hardened.errors import IdempotencyKeyInvalid, IdempotencyKeyReused
from hardened.idempotency import IdempotencyContext

__all__ = ["check_fingerprint", "claimed", "fingerprint"]


def claimed(request: Request) -> IdempotencyContext:
    """The key the layer claimed for this request (the routes are `@idempotent()`)."""
    context = idempotency_context(request)
    if context is None:  # only without the layer: the route requires a key all the same
        raise IdempotencyKeyInvalid("send an Idempotency-Key header (a UUID is ideal)")
    return context


def fingerprint(route: str, fields: dict[str, Any]) -> str:
    """A digest of the route, its path parameters and the parsed body."""
    canonical = json.dumps([route, fields], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def check_fingerprint(stored: str, current: str) -> None:
    """`IdempotencyKeyReused` (422) when a key comes back with a different request."""
    if stored != current:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
