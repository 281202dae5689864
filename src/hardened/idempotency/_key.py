"""The Idempotency-Key header: one value, 1-255 printable ASCII, and the layer's own refusals."""

from __future__ import annotations

import re
from collections.abc import Iterable

from hardened.errors import IdempotencyError, IdempotencyKeyInvalid, RejectedError

__all__ = [
    "MAX_KEY_LENGTH",
    "IdempotencyLeaseLost",
    "IdempotencyPrincipalMissing",
    "IdempotencyStoreUnavailable",
    "read_key",
]

MAX_KEY_LENGTH = 255


class IdempotencyStoreUnavailable(RejectedError):
    """The key store could not be reached: the request is refused, the handler not run."""

    problem_type = "https://hardened.dev/problems/idempotency-store-unavailable"
    title = "Idempotency store unavailable"


class IdempotencyPrincipalMissing(IdempotencyError):
    """A keyed request carried no principal to scope its key to."""

    status = 401
    problem_type = "https://hardened.dev/problems/idempotency-principal-missing"
    title = "An Idempotency-Key needs an authenticated principal"


class IdempotencyLeaseLost(IdempotencyError):
    """The claim's lease passed to another request: this attempt's completion was refused."""

    status = 409
    problem_type = "https://hardened.dev/problems/idempotency-lease-lost"
    title = "The Idempotency-Key was taken over by a retry"


_VALID = re.compile(r"[ -~]{1,255}")  # printable ASCII, 1 to MAX_KEY_LENGTH characters


def read_key(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The key in `headers` (None when absent); `IdempotencyKeyInvalid` when malformed or sent
    twice. A structured-field string (``"abc"``) is unquoted; a bare token is taken as is;
    quotes and backslashes are refused anywhere else."""
    found: bytes | None = None
    for header, value in headers:
        if header == name:
            if found is not None:
                raise IdempotencyKeyInvalid("the Idempotency-Key header was sent more than once")
            found = value
    if found is None:
        return None
    try:
        key = found.decode("ascii")
    except UnicodeDecodeError:
        raise IdempotencyKeyInvalid("the key must be printable ASCII") from None
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if '"' in key or "\\" in key:
        raise IdempotencyKeyInvalid("a key must not contain quotes or backslashes")
    if not _VALID.fullmatch(key):
        raise IdempotencyKeyInvalid(
            f"the key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
        )
    return key
