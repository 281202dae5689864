"""Configuration of the observe gate: RED metric settings and SLO declarations."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from hardened._fields import check_fields
from hardened.errors import ConfigError
from hardened.routes import route_label

__all__ = ["DEFAULT_BUCKETS", "OBSERVE_DEFAULTS", "SLO", "ObserveConfig"]

# 1 ms … 10 s; every SLO latency threshold is inserted on top (see `ObserveConfig.buckets_for`).
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

_SLO_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class ObserveConfig:
    """RED metrics: histogram buckets, the series budget per metric, exemplars, rule selector."""

    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    # A hard cap on label sets per metric; past it, observations go to route="__overflow__".
    series_budget: int = 2000
    # Attach the W3C `traceparent` trace id as an exemplar (OpenMetrics scrapes only).
    exemplars: bool = True
    # PromQL label matchers that select this service's series in the generated rules; empty
    # means `job="<service name>"` (the scrape job named after the service).
    rules_selector: str = ""

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.buckets or any(not (0 < b < math.inf) for b in self.buckets):
            raise ConfigError(f"buckets must be finite positive seconds, got {self.buckets}")
        if list(self.buckets) != sorted(set(self.buckets)):
            raise ConfigError(f"buckets must be strictly increasing, got {self.buckets}")
        if not 10 <= self.series_budget <= 100_000:
            raise ConfigError(f"series_budget must be in 10..100000, got {self.series_budget}")
        if "{" in self.rules_selector or "}" in self.rules_selector:
            raise ConfigError("rules_selector holds matchers only, e.g. 'job=\"api\"', no braces")

    def buckets_for(self, slos: tuple[SLO, ...]) -> tuple[float, ...]:
        """The effective bucket boundaries: the configured ones plus every SLO threshold."""
        thresholds = {slo.latency for slo in slos if slo.latency is not None}
        return tuple(sorted(set(self.buckets) | thresholds))

    def selector(self, service_name: str) -> str:
        """The label matchers of the generated rules."""
        return self.rules_selector or f'job="{service_name}"'


@dataclass(frozen=True, slots=True, kw_only=True)
class SLO:
    """A service level objective over the RED stream.

    Availability (``latency=None``): good = non-5xx. Latency: good = non-5xx **and** answered
    within ``latency`` seconds, so fast 503s from the shedder cannot flatter it.
    """

    name: str
    objective: float
    latency: float | None = None
    # Route templates the SLO covers; empty means every request that reaches the stack.
    routes: tuple[str, ...] = ()
    period_days: int = 30
    description: str = ""
    # Minimum-traffic guard (SRE workbook, low-traffic services): a burn-rate alert or verdict
    # needs at least this many bad requests in its long window, so an idle or new service with
    # a handful of errors is not paged for a "burn rate" of 50x.
    min_bad_requests: int = 10

    def __post_init__(self) -> None:
        check_fields(self)
        if not _SLO_NAME.match(self.name):
            raise ConfigError(f"SLO name must match {_SLO_NAME.pattern}, got {self.name!r}")
        if not 0.5 <= self.objective < 1.0:
            raise ConfigError(f"SLO objective must be in [0.5, 1), got {self.objective}")
        if self.latency is not None and not (0 < self.latency <= 60):
            raise ConfigError(f"SLO latency must be in (0, 60] seconds, got {self.latency}")
        if isinstance(self.routes, str) or any(not r for r in self.routes):
            raise ConfigError(f"SLO routes must be a tuple of route templates, got {self.routes}")
        # Route labels carry no converters: "/items/{id:int}" is counted as "/items/{id}".
        object.__setattr__(self, "routes", tuple(route_label(r) for r in self.routes))
        if not 1 <= self.period_days <= 90:
            raise ConfigError(f"SLO period_days must be in 1..90, got {self.period_days}")
        if not 1 <= self.min_bad_requests <= 100_000:
            raise ConfigError(
                f"SLO min_bad_requests must be in 1..100000, got {self.min_bad_requests}"
            )

    @property
    def error_budget(self) -> float:
        """The allowed bad fraction, 1 - objective."""
        return 1.0 - self.objective

    @property
    def kind(self) -> str:
        """'latency' or 'availability'."""
        return "availability" if self.latency is None else "latency"

    def is_good(self, status: int, duration: float) -> bool:
        """Whether one request counts as good for this SLO."""
        if status >= 500:
            return False
        return self.latency is None or duration <= self.latency


OBSERVE_DEFAULTS = ObserveConfig()
