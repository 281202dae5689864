"""Request fingerprints, and the downstream keys derived from (scope, key, step).

A fingerprint is SHA-256 (HMAC-SHA-256 with a secret) over length-prefixed parts: method,
route template, path parameters, sorted query, body. A JSON body is hashed in canonical form
(keys sorted, no insignificant whitespace), so key order and spacing never make a mismatch;
length prefixes keep ``/orders/12`` + ``3`` apart from ``/orders/123``, and an ``=`` inside a
query name is escaped, so a pair cannot be read two ways.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl

__all__ = ["canonical_body", "derive_key", "fingerprint"]

# Built once: `json.dumps` with these options would build an encoder on every call.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _is_json(content_type: bytes) -> bool:
    kind = content_type.split(b";", 1)[0].strip().lower()
    return kind == b"application/json" or kind.endswith(b"+json")


def canonical_body(body: bytes, content_type: bytes) -> bytes:
    """The body as it is hashed: canonical JSON when it parses as JSON, else the bytes (also
    for what the canonical form cannot hold: NaN, a number past a float, nesting too deep)."""
    if not body or not _is_json(content_type):
        return body
    try:
        canonical = _CANONICAL.encode(json.loads(body))
    except (ValueError, RecursionError):
        return body
    return canonical.encode()


def _query_name(name: str) -> str:
    """A decoded query name as hashed: an ``=`` (sent as ``%3D``) or a backslash in it escaped,
    so ``a%3Db=c`` and ``a=b%3Dc`` stay apart; any other name as it is (the fingerprints of
    earlier releases hold)."""
    if "=" in name or "\\" in name:
        return name.replace("\\", "\\\\").replace("=", "\\=")
    return name


def _parts(parts: Iterable[bytes]) -> bytes:
    return b"".join([len(part).to_bytes(8, "big") + part for part in parts])


def fingerprint(
    *,
    method: str,
    route: str,
    path_params: Mapping[str, str],
    query_string: bytes,
    body: bytes,
    content_type: bytes,
    secret: bytes | None = None,
) -> bytes:
    """The 32-byte digest that tells two requests sent with one key apart."""
    params = b""  # no parameters, no query: nothing to sort or parse
    if path_params:
        params = _parts([f"{k}={v}".encode() for k, v in sorted(path_params.items())])
    query = b""
    if query_string:
        pairs = sorted(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
        query = _parts([f"{_query_name(k)}={v}".encode() for k, v in pairs])
    data = _parts(
        [method.encode(), route.encode(), params, query, canonical_body(body, content_type)]
    )
    if secret is not None:
        return hmac.new(secret, data, hashlib.sha256).digest()
    return hashlib.sha256(data).digest()


def derive_key(scope: str, key: str, step: str) -> str:
    """The key to send a downstream service for `step` of the request keyed `key` by `scope`:
    the same on every retry, different for every tenant and step (64 hex characters)."""
    return hashlib.sha256(
        _parts([b"hardened-step", scope.encode(), key.encode(), step.encode()])
    ).hexdigest()
