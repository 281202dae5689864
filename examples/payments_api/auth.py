"""Bearer API keys → tenant. Keys come from `PAYMENTS_API_KEYS="tenant:key,tenant:key"`, read
when the service starts (never at import); a service without keys refuses to start."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Mapping

from starlette.requests import HTTPConnection

from examples.payments_api.problems import Unauthorized
from hardened import ConfigError, component

__all__ = ["DEMO_KEYS", "ApiKeys", "api_keys", "principal"]

# What `make run` uses when PAYMENTS_API_KEYS is not set; never a production default.
DEMO_KEYS = "acme:sk_test_acme_4eC39HqLyjWDarjtT1zdp7dc,globex:sk_test_globex_Zt9w3XkQp2"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class ApiKeys:
    """Who a request is: the tenant its API key belongs to."""

    outbound = False  # a lookup table, no per-request calls (the deadline gate's wiring scan)

    def __init__(self, keys: Mapping[str, str]) -> None:
        # Looked up by digest, so a lookup's timing says nothing about the stored keys.
        self._tenants = {_digest(key): tenant for key, tenant in keys.items()}

    @classmethod
    def parse(cls, value: str) -> ApiKeys:
        """Parse `tenant:key,tenant:key`; `ConfigError` when empty or malformed."""
        keys: dict[str, str] = {}
        for entry in filter(None, (part.strip() for part in value.split(","))):
            tenant, _, key = entry.partition(":")
            if not tenant or not key:
                raise ConfigError(f"PAYMENTS_API_KEYS entries are tenant:key, not {entry[:20]!r}")
            keys[key] = tenant
        if not keys:
            raise ConfigError("PAYMENTS_API_KEYS is not set: give it tenant:key,tenant:key")
        return cls(keys)

    def tenant(self, authorization: str | None) -> str:
        """The tenant of `Authorization: Bearer <key>`; `Unauthorized` (401) otherwise."""
        scheme, _, key = (authorization or "").partition(" ")
        tenant = self._tenants.get(_digest(key.strip())) if scheme.lower() == "bearer" else None
        if tenant is None:
            raise Unauthorized("send Authorization: Bearer <api key>")
        return tenant


@contextlib.asynccontextmanager
async def api_keys() -> AsyncIterator[ApiKeys]:
    """The component: the keys in force, read from the environment at start."""
    yield ApiKeys.parse(os.environ.get("PAYMENTS_API_KEYS", ""))


def principal(connection: HTTPConnection) -> str | None:
    """The Idempotency-Key layer's scope: keys belong to the tenant (None: 401 before a claim)."""
    try:
        return component(connection, ApiKeys).tenant(connection.headers.get("authorization"))
    except Unauthorized:
        return None
