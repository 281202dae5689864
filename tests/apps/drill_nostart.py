"""A service whose start-up fails: `hardened drill` must exit 3 saying so."""

from __future__ import annotations

from collections.abc import AsyncIterator

from hardened import Service


class Broken:
    """A component that cannot start."""


app = Service("no-start")


@app.components.provide(Broken)
async def broken() -> AsyncIterator[Broken]:
    raise RuntimeError("the database is not there")
    yield Broken()  # pragma: no cover - never reached
