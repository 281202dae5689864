"""The lifecycle slot: in-flight bound (503 + Retry-After) and the request body limit (413).

A declared `Content-Length` over the limit is refused before one body byte is read, with
`Connection: close`; a chunked body is counted while the application reads it and stopped at
the limit. Requests without a body pay nothing for the limit; probes never reach this layer.
The request path is the lifecycle stage of `hardened._edge.FusedEdge`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import ASGIApp

from hardened.lifecycle.config import LifecycleConfig
from hardened.stack import EdgeStage

if TYPE_CHECKING:
    from hardened.service import Service

__all__ = ["EdgeStats", "LifecycleLayer", "SlowClientStats"]


class EdgeStats:
    """Counters and the in-flight gauge (plain integers, read by the gate and the metrics)."""

    __slots__ = ("in_flight", "peak_in_flight", "rejected_busy", "rejected_declared", "stopped")

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak_in_flight = 0
        self.rejected_busy = 0
        self.rejected_declared = 0
        self.stopped = 0


class SlowClientStats:
    """What the protocols did to slow clients (plain counters, shared by all connections)."""

    __slots__ = ("body_timeouts", "discarded_bytes", "header_timeouts", "lingered", "refused_heads")

    def __init__(self) -> None:
        self.refused_heads = 0  # 431 (over the header bounds) or 400 (ambiguous framing)
        self.header_timeouts = 0
        self.body_timeouts = 0
        self.lingered = 0
        self.discarded_bytes = 0


class LifecycleLayer(EdgeStage):
    """Fills the `lifecycle` slot of the fixed middleware order."""

    slot = "lifecycle"

    def __init__(self, config: LifecycleConfig, service: Service, stats: EdgeStats) -> None:
        self.config = config
        self.stats = stats
        self.routes_of: ASGIApp = service.app  # where `@body_limit` marks are looked up
