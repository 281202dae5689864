"""The deadline gate's configuration and the per-route override decorator."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from hardened._fields import check_fields
from hardened.errors import ConfigError
from hardened.routes import mark_endpoint

__all__ = ["ROUTE_TIMEOUT_ATTRIBUTE", "DeadlineConfig", "route_timeout"]

ROUTE_TIMEOUT_ATTRIBUTE = "__hardened_timeout__"

F = TypeVar("F", bound=Callable[..., Any])


def _check_seconds(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive, finite number of seconds, not {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadlineConfig:
    """The request budget set once at the edge.

    `default_timeout`: the service's budget per request (10 s). A route's own
    budget (`@route_timeout`) replaces it for that route, longer or shorter; an inbound
    `X-Request-Timeout` / `grpc-timeout` can only shorten it (the nearest deadline wins).
    `scan_modules`: extra modules the gate searches for clients built outside the Service.
    """

    default_timeout: float = 10.0
    accept_inbound: bool = True
    scan_modules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_fields(self)
        _check_seconds("default_timeout", self.default_timeout)


def route_timeout(seconds: float) -> Callable[[F], F]:
    """Give one endpoint its own budget instead of the service default."""
    _check_seconds("route_timeout", seconds)
    return mark_endpoint(ROUTE_TIMEOUT_ATTRIBUTE, float(seconds))
