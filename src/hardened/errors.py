"""The one exception tree of `hardened`; each rejection maps to one HTTP answer at the edge.

::

    HardenedError
    ├── ConfigError (ValueError)           invalid configuration, raised at construction
    ├── StartupFailed                      a component did not start (names it)
    ├── BadRequest                         a malformed request or query       → 400
    │   └── MalformedBody                  the request body is not valid JSON → 400
    ├── RejectedError                      refused before doing the work      → 503 / 413
    │   ├── LoadShed                       the shedder dropped the request    → 503
    │   ├── CircuitOpen                    a dependency's breaker is open     → 503
    │   ├── BulkheadFull                   a dependency's bulkhead is full    → 503
    │   ├── PoolExhausted (TimeoutError)   no connection within the timeout  → 503
    │   └── BodyTooLarge                   the body passed its limit          → 413
    ├── DeadlineExceeded (TimeoutError)    the request budget is spent        → 504
    ├── BodyTimeout (TimeoutError)         the client was too slow with its body → 408
    ├── DependencyTimeout (TimeoutError)   a dependency did not answer in time → 504
    ├── ShutdownInterrupted                cut at the drain timeout or forced → 503
    └── IdempotencyError                   an Idempotency-Key problem
        ├── IdempotencyKeyInvalid          missing or malformed key           → 400
        ├── IdempotencyKeyReused           same key, different request        → 422
        └── IdempotencyKeyInFlight         same key, still being processed    → 409

`hardened.problems` renders any of them as `application/problem+json`; foreign errors
(asyncpg, httpx, tenacity) are translated at the boundary with ``raise … from exc``.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "BodyTimeout",
    "BodyTooLarge",
    "BulkheadFull",
    "CircuitOpen",
    "ConfigError",
    "DeadlineExceeded",
    "DependencyTimeout",
    "HardenedError",
    "IdempotencyError",
    "IdempotencyKeyInFlight",
    "IdempotencyKeyInvalid",
    "IdempotencyKeyReused",
    "LoadShed",
    "MalformedBody",
    "PoolExhausted",
    "RejectedError",
    "ShutdownInterrupted",
    "StartupFailed",
]


class HardenedError(Exception):
    """Base of every error `hardened` raises.

    `status` is the HTTP answer at the edge; `problem_type` names the problem+json type;
    `retry_after` (seconds), when set, becomes a `Retry-After` header; `close` asks the answer
    to close the connection (part of the request is unread).
    """

    status: int = 500
    close: bool = False
    problem_type: str = "about:blank"
    title: str = "Internal error"

    def __init__(self, detail: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.retry_after = retry_after


class ConfigError(HardenedError, ValueError):
    """A configuration value is invalid; raised when the config object is built."""

    title = "Invalid configuration"


class RejectedError(HardenedError):
    """The request was refused before the work was done; nothing happened."""

    status = 503
    problem_type = "https://hardened.dev/problems/rejected"
    title = "Service unavailable"


class LoadShed(RejectedError):
    """The load shedder refused the request because the process is saturated."""

    problem_type = "https://hardened.dev/problems/load-shed"
    title = "Overloaded, try again later"


class CircuitOpen(RejectedError):
    """A dependency's circuit breaker is open; the call was not attempted."""

    problem_type = "https://hardened.dev/problems/circuit-open"
    title = "Dependency unavailable"


class BulkheadFull(RejectedError):
    """A dependency's bulkhead has no free slot within its wait bound."""

    problem_type = "https://hardened.dev/problems/bulkhead-full"
    title = "Dependency saturated"


class PoolExhausted(RejectedError, TimeoutError):
    """No pooled connection became free within the acquire timeout."""

    problem_type = "https://hardened.dev/problems/pool-exhausted"
    title = "Connection pool exhausted"


class BodyTooLarge(RejectedError):
    """The request body is larger than the route's limit."""

    status = 413
    problem_type = "https://hardened.dev/problems/body-too-large"
    title = "Request body too large"


class DeadlineExceeded(HardenedError, TimeoutError):
    """The request's time budget is spent; the work was abandoned."""

    status = 504
    problem_type = "https://hardened.dev/problems/deadline-exceeded"
    title = "Request deadline exceeded"


class BodyTimeout(HardenedError, TimeoutError):
    """The budget ran out while the application waited on the client's body: the client's fault."""

    status = 408
    close = True  # the rest of the body is never read
    problem_type = "https://hardened.dev/problems/body-timeout"
    title = "Request Timeout"


class DependencyTimeout(HardenedError, TimeoutError):
    """A dependency did not answer within its attempt timeout (after any retries)."""

    status = 504
    problem_type = "https://hardened.dev/problems/dependency-timeout"
    title = "Dependency timed out"


class IdempotencyError(HardenedError):
    """An `Idempotency-Key` could not be honoured."""

    status = 400
    problem_type = "https://hardened.dev/problems/idempotency"
    title = "Idempotency key error"


class IdempotencyKeyInvalid(IdempotencyError):
    """The key is missing where required, or is not 1-255 printable ASCII characters."""

    status = 400
    problem_type = "https://hardened.dev/problems/idempotency-key-invalid"
    title = "Invalid Idempotency-Key"


class IdempotencyKeyReused(IdempotencyError):
    """The key was already used for a different request (another fingerprint)."""

    status = 422
    problem_type = "https://hardened.dev/problems/idempotency-key-reused"
    title = "Idempotency-Key reused with a different request"


class IdempotencyKeyInFlight(IdempotencyError):
    """A request with the same key is still being processed."""

    status = 409
    problem_type = "https://hardened.dev/problems/idempotency-key-in-flight"
    title = "A request with this Idempotency-Key is in progress"


class ShutdownInterrupted(HardenedError):
    """The shutdown's drain timeout cut the request before its response started. Unlike a
    `RejectedError`, the work may be partly done: only an idempotent request is safe to retry
    (on another replica: the answer carries `Retry-After` and `Connection: close`)."""

    status = 503
    problem_type = "https://hardened.dev/problems/shutdown-interrupted"
    title = "Interrupted by shutdown"


class StartupFailed(HardenedError):
    """A component did not start: it raised, outlived its start timeout, or a signal came."""

    title = "Start-up failed"


class BadRequest(HardenedError):
    """The request (its query, its body) is malformed: the client's fault, not the service's."""

    status = 400
    problem_type = "https://hardened.dev/problems/bad-request"
    title = "Bad request"


class MalformedBody(BadRequest):
    """The request body could not be parsed as the JSON the handler asked for."""

    problem_type = "https://hardened.dev/problems/malformed-body"
    title = "Malformed request body"
