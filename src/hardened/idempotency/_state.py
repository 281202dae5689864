"""The layer's counters and the in-progress census, exported as mechanism state.

Counters are plain integers bumped on the request path; the census (in-progress keys by age)
is refreshed by the reaper, because a scrape must never wait for the database. Each
``*_total`` field becomes a Prometheus counter, the others gauges (see `hardened.state`).
"""

from __future__ import annotations

from hardened.gates import StateFields
from hardened.idempotency._store import Census

__all__ = ["IdempotencyStats"]


class IdempotencyStats:
    """What the layer did, since the process started."""

    __slots__ = (
        "census",
        "census_errors",
        "claims",
        "completion_failures",
        "conflicts",
        "invalid_keys",
        "lost_leases",
        "mismatches",
        "principal_missing",
        "reaped",
        "releases",
        "replays",
        "unavailable",
        "unstored_too_large",
    )

    def __init__(self) -> None:
        self.claims = 0
        self.replays = 0
        self.conflicts = 0
        self.mismatches = 0
        self.releases = 0
        self.invalid_keys = 0
        self.principal_missing = 0
        self.unavailable = 0
        self.lost_leases = 0
        self.completion_failures = 0
        self.unstored_too_large = 0
        self.reaped = 0
        self.census_errors = 0
        self.census: Census = {}

    def state(self) -> StateFields:
        """The mechanism state: event counters and the latest census."""
        return {
            "claims_total": self.claims,
            "replays_total": self.replays,
            "conflicts_total": self.conflicts,
            "mismatches_total": self.mismatches,
            "releases_total": self.releases,
            "invalid_keys_total": self.invalid_keys,
            "principal_missing_total": self.principal_missing,
            "store_unavailable_total": self.unavailable,
            "lost_leases_total": self.lost_leases,
            "completion_failures_total": self.completion_failures,
            "unstored_too_large_total": self.unstored_too_large,
            "reaped_total": self.reaped,
            "census_errors_total": self.census_errors,
            **self.census,
        }
