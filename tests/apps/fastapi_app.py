"""An existing FastAPI application wrapped by Service: same probes, stack and report."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hardened import Service
from hardened.errors import CircuitOpen

started: list[str] = []


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    started.append("fastapi")
    yield


api = FastAPI(lifespan=lifespan)


@api.get("/items/{item_id}")
async def read_item(item_id: int) -> dict[str, int | bool]:
    return {"item_id": item_id, "lifespan_ran": started == ["fastapi"]}


@api.get("/down")
async def down() -> dict[str, str]:
    raise CircuitOpen("processor breaker open", retry_after=5)


service = Service("legacy-fastapi", app=api)
app = service
