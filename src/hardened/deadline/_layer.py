"""The deadline slot: set the request's budget once, refuse late arrivals, answer 504 when spent.

Budget = the route's own timeout or the service default, lowered by an inbound
`X-Request-Timeout` / `grpc-timeout`. The application runs under that deadline until its
response starts (then it is released: the status is out); expiry cancels the handler's task
and answers 504. Requests on the service budget share one loop timer (see `_expiry`); a
route's or caller's budget gets a loop timer of its own (cheaper than `asyncio.timeout`).
The request path is the deadline stage of `hardened._edge.FusedEdge`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import ASGIApp

from hardened.deadline._config import DeadlineConfig
from hardened.stack import EdgeStage

if TYPE_CHECKING:
    from hardened.service import Service

__all__ = ["DeadlineLayer", "DeadlineStats"]


class DeadlineStats:
    """Counters the gate and the metrics read (plain integers: nothing allocated per request)."""

    __slots__ = ("by_source", "expired", "malformed_header", "refused_late")

    def __init__(self) -> None:
        self.by_source = {"service": 0, "route": 0, "header": 0}
        self.expired = 0
        self.refused_late = 0
        self.malformed_header = 0


class DeadlineLayer(EdgeStage):
    """Fills the `deadline` slot of the fixed middleware order."""

    slot = "deadline"

    def __init__(self, config: DeadlineConfig, service: Service, stats: DeadlineStats) -> None:
        self.config = config
        self.clock = service.clock
        self.stats = stats
        self.routes_of: ASGIApp = service.app  # where `@route_timeout` marks are looked up
