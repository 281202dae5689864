"""A Service with none of the default mechanisms: every slot empty, every gate unconfigured."""

from __future__ import annotations

from typing import Any

from hardened import Service


def bare_service(name: str, **kwargs: Any) -> Service:
    """`Service(name, **kwargs)` with each default mechanism turned off."""
    defaults: dict[str, Any] = dict.fromkeys(
        ("lifecycle", "deadline", "loop", "shutdown", "observe", "shed")
    )
    return Service(
        name, **{**defaults, "breaker": False, "pools": False, "idempotency": False, **kwargs}
    )
