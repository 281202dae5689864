"""Budget on the wire: inbound `X-Request-Timeout` / `grpc-timeout`, the same header outbound."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from hardened.deadline._budget import remaining
from hardened.errors import DeadlineExceeded

__all__ = [
    "CALLER_BUDGET_HEADERS",
    "GRPC_TIMEOUT_HEADER",
    "REQUEST_TIMEOUT_HEADER",
    "caller_budget",
    "httpx_deadline_hook",
    "outbound_headers",
    "parse_grpc_timeout",
    "parse_request_timeout",
]

REQUEST_TIMEOUT_HEADER = "x-request-timeout"
GRPC_TIMEOUT_HEADER = "grpc-timeout"

# The header names a caller's remaining budget arrives in, as the edge's header scan keys them.
CALLER_BUDGET_HEADERS = (REQUEST_TIMEOUT_HEADER.encode(), GRPC_TIMEOUT_HEADER.encode())

_GRPC = re.compile(rb"(\d{1,8})([HMSmun])")
_GRPC_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}
_DECIMAL = re.compile(rb"-?\d{1,12}(\.\d{1,9})?")


def parse_request_timeout(value: bytes) -> float | None:
    """`X-Request-Timeout` (decimal seconds, the caller's remaining budget); None if malformed."""
    value = value.strip()
    if _DECIMAL.fullmatch(value) is None:
        return None
    return float(value)


def parse_grpc_timeout(value: bytes) -> float | None:
    """gRPC's `grpc-timeout` (`1*8DIGIT` + unit H M S m u n) in seconds; None if malformed."""
    match = _GRPC.fullmatch(value.strip())
    if match is None:
        return None
    return int(match.group(1)) * _GRPC_UNITS[match.group(2)]


def outbound_headers(*, margin: float = 0.05, grpc: bool = False) -> dict[str, str]:
    """The header that hands the remaining budget (minus `margin` s) to a downstream call.

    Empty outside any budget. Raises `DeadlineExceeded` when nothing would be left, so that a
    call that cannot finish in time is not started.
    """
    left = remaining()
    if left is None:
        return {}
    left -= margin
    if left <= 0:
        raise DeadlineExceeded("no budget left for an outbound call")
    if grpc:
        return {GRPC_TIMEOUT_HEADER: f"{min(math.ceil(left * 1000), 99_999_999)}m"}
    return {REQUEST_TIMEOUT_HEADER: f"{left:.3f}"}


async def httpx_deadline_hook(request: Any) -> None:
    """An httpx `event_hooks={"request": [...]}` hook: send the budget, cap the timeouts by it.

    `httpx.AsyncClient(event_hooks={"request": [httpx_deadline_hook]})` writes
    `X-Request-Timeout` and lowers each phase timeout to the budget left.
    """
    headers = outbound_headers()
    if not headers:
        return
    request.headers.update(headers)
    left = remaining()
    assert left is not None
    timeout = request.extensions.get("timeout")
    if isinstance(timeout, dict):
        request.extensions["timeout"] = {
            phase: left if value is None else min(float(value), left)
            for phase, value in timeout.items()
        }


def caller_budget(headers: Mapping[bytes, bytes]) -> tuple[float | None, int]:
    """The nearest of the caller's budget headers (seconds) and how many values were malformed.

    `headers` maps lower-case names to values (a repeated header's values joined by commas).
    """
    nearest: float | None = None
    malformed = 0
    for name in CALLER_BUDGET_HEADERS:
        joined = headers.get(name)
        if joined is None:
            continue
        parse = parse_request_timeout if name == CALLER_BUDGET_HEADERS[0] else parse_grpc_timeout
        for value in joined.split(b",") if b"," in joined else (joined,):
            seconds = parse(value)
            if seconds is None:
                malformed += 1
            elif nearest is None or seconds < nearest:
                nearest = seconds
    return nearest, malformed
