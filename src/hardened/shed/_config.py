"""Configuration of the load shedder: signals, limits, priorities, rejection."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field

from hardened._fields import check_fields
from hardened.errors import ConfigError

__all__ = ["SHED_DEFAULTS", "Priority", "ShedConfig"]


class Priority(enum.StrEnum):
    """Who is shed first: sheddable, then standard; critical only under severe overload."""

    CRITICAL = "critical"
    STANDARD = "standard"
    SHEDDABLE = "sheddable"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShedConfig:
    """The adaptive shedder at the edge (queue delay first; CoDel and Netflix defaults)."""

    # Queue delay (event-loop lag = ready-queue wait), CoDel style: overloaded once the delay
    # stays above `target` for `interval`; back to normal after `interval` below it.
    queue_delay_target: float = 0.020
    queue_delay_interval: float = 0.100
    heartbeat: float = 0.010
    # The heartbeat pauses after this long with no request (and a calm queue) and restarts
    # with the next request; 0 keeps it beating while idle.
    heartbeat_idle_pause: float = 1.0
    # While overloaded, sheddable requests still fill a drained queue: admitted when the delay
    # is at most this (Facebook's M, 5 ms), so the loop never idles while they are refused.
    # Refusing them for the whole episode left the loop idle between critical requests (3x
    # load, 20 % critical, 3 paired runs: goodput 85-87 rps instead of 87-92 of about 96).
    overloaded_queue_delay: float = 0.005
    # Critical requests are shed only once the queue delay passes this (severe overload).
    critical_queue_delay: float = 0.250
    # Gradient2 adaptive in-flight limit (Netflix concurrency-limits defaults). Off by default:
    # in-flight requests that await a slow dependency are not this process's overload (a limit
    # of 20 refused 180 of 200 requests awaiting a 3 s upstream with the CPU idle); that is the
    # bulkhead's business, per dependency. When on, it applies only while the queue delay is
    # over its target, so it never refuses while the process itself is not saturated.
    adaptive_limit: bool = False
    initial_limit: int = 20
    # The limit is enforced once this many requests have finished: before that it rests on no
    # measured latency (a start-up burst of slow, I/O-bound requests would meet a cap of 20),
    # and the queue-delay signal alone protects the process.
    warmup_samples: int = 20
    min_limit: int = 5
    max_limit: int = 1000
    smoothing: float = 0.2
    rtt_tolerance: float = 1.5
    # Rejections: 503 + Retry-After drawn from [min, max] seconds.
    retry_after: tuple[int, int] = (1, 5)
    # `Connection: close` on rejections, at most this many per second (a token bucket), and
    # always when the request has a body (it was never read). Closing every rejected
    # keep-alive connection turns overload into connection churn: new connections wait in
    # the kernel's accept queue, where no in-process shedder sees them (uvloop accepts one
    # per loop turn), and clients time out. A few closes per second still move clients off
    # an overloaded replica.
    close_per_second: float = 10.0
    # Priorities: by path prefix (first match wins), overridden by the priority header only
    # from a trusted caller: a peer address in `trusted_networks` (CIDR), or a request whose
    # `trusted_secret_header` carries `trusted_secret` (set by the service's own gateway).
    # Nobody is trusted by default: any client could otherwise escape shedding by claiming
    # `critical`. An untrusted claim makes its request sheddable (claiming is what an attacker
    # does; a client that does not claim keeps its route's priority).
    priority_header: str | None = "x-priority"
    trusted_networks: tuple[str, ...] = ()
    trusted_secret_header: str | None = None
    trusted_secret: str | None = field(default=None, repr=False)
    route_priorities: tuple[tuple[str, Priority], ...] = ()
    default_priority: Priority = Priority.STANDARD
    # Drop (504) a request whose caller's budget (`X-Request-Timeout` / `grpc-timeout`, the
    # deadline gate's headers) is already spent by the time it has queued.
    drop_late: bool = True
    exempt_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_fields(self)
        if not 0 < self.heartbeat <= self.queue_delay_target:
            raise ConfigError("heartbeat must be positive and at most queue_delay_target")
        delays = (self.overloaded_queue_delay, self.queue_delay_target, self.critical_queue_delay)
        if not 0 <= delays[0] <= delays[1] < delays[2] <= 10:
            raise ConfigError(
                "need 0 <= overloaded_queue_delay <= queue_delay_target < critical_queue_delay"
                " <= 10 s"
            )
        if not 0 <= self.heartbeat_idle_pause <= 3600:
            raise ConfigError("heartbeat_idle_pause must be in [0, 3600] seconds")
        if not 0 < self.queue_delay_interval <= 10:
            raise ConfigError("queue_delay_interval must be in (0, 10] seconds")
        if self.warmup_samples < 0:
            raise ConfigError("warmup_samples must be >= 0")
        if not 1 <= self.min_limit <= self.initial_limit <= self.max_limit <= 100_000:
            raise ConfigError("need 1 <= min_limit <= initial_limit <= max_limit <= 100000")
        if not 0 < self.smoothing <= 1 or self.rtt_tolerance < 1:
            raise ConfigError("smoothing must be in (0, 1] and rtt_tolerance >= 1")
        if not 0 <= self.close_per_second <= 100_000:
            raise ConfigError("close_per_second must be in [0, 100000]")
        low, high = self.retry_after
        if not 1 <= low <= high <= 3600:
            raise ConfigError(
                f"retry_after must be 1 <= min <= max <= 3600, got {self.retry_after}"
            )
        for prefix, priority in self.route_priorities:
            if not prefix.startswith("/") or not isinstance(priority, Priority):
                raise ConfigError(f"route_priorities need ('/prefix', Priority), got {prefix!r}")
        self._check_trust()

    def _check_trust(self) -> None:
        for header in (self.priority_header, self.trusted_secret_header):
            if header is not None and header != header.lower():
                raise ConfigError(f"header names are lower case, got {header!r}")
        if (self.trusted_secret_header is None) != (self.trusted_secret is None):
            raise ConfigError("trusted_secret_header and trusted_secret go together")
        if self.trusted_secret is not None and len(self.trusted_secret) < 16:
            raise ConfigError("trusted_secret needs at least 16 characters")
        for network in self.trusted_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ConfigError(f"trusted_networks takes CIDR blocks, got {network!r}") from None

    def priority_for(self, path: str) -> Priority:
        """The priority of `path` before any header says otherwise."""
        for prefix, priority in self.route_priorities:
            if path.startswith(prefix):
                return priority
        return self.default_priority


SHED_DEFAULTS = ShedConfig()
