"""Budget use declared by providers: an httpx client with `httpx_deadline_hook`, declared
(`declared`) or recognised once started (`detected`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from hardened import Service
from hardened.deadline import httpx_deadline_hook


async def hooked_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(event_hooks={"request": [httpx_deadline_hook]}) as client:
        yield client


declared = Service("declared")
declared.components.provide(httpx.AsyncClient, deadline="hook")(hooked_client)

detected = Service("detected")
detected.components.provide(httpx.AsyncClient)(hooked_client)
