"""Helpers shared by the shutdown integration tests: traffic, reports, bounded waits."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def reports(output: str) -> list[dict[str, Any]]:
    """Every `shutdown-report` line the server logged, parsed."""
    found = []
    for line in output.splitlines():
        _, marker, document = line.partition("shutdown-report ")
        if marker:
            found.append(json.loads(document))
    return found


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll `predicate` every 20 ms for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


async def wait_entered(client: httpx.AsyncClient, url: str, count: int) -> int:
    """Wait (bounded) until the app has seen `count` slow requests enter; how many did."""
    entered = 0
    for _ in range(400):
        entered = (await client.get(f"{url}/stats")).json()["entered"]
        if entered >= count:
            break
        await asyncio.sleep(0.05)
    return entered


def events(path: Path) -> list[str]:
    """The lines the test app's components and workers recorded."""
    return path.read_text().splitlines() if path.exists() else []
