"""Which errors count against a dependency: transport errors, own timeouts, failing statuses.

Anything else is *ignored* (neither success nor failure): a bug in the caller's code, a 404, the
request's own budget running out. Cancellation and other BaseExceptions never count and always
propagate.
"""

from __future__ import annotations

import sys
from collections.abc import Collection

from hardened.errors import DeadlineExceeded, HardenedError

__all__ = ["FailedResponse", "is_failure"]


class FailedResponse(Exception):
    """An answer whose status counts as a failure (5xx, 408, 429), carried through retries;
    the transport hands the last one back to the caller as a response."""

    def __init__(self, response: object, status: int, retry_after: float | None) -> None:
        super().__init__(f"the dependency answered {status}")
        self.response = response
        self.status_code = status
        self.retry_after = retry_after


def is_failure(error: BaseException, statuses: Collection[int]) -> bool:
    """True when `error` means the dependency failed (and the call may be retried)."""
    if not isinstance(error, Exception) or isinstance(error, DeadlineExceeded | HardenedError):
        return False
    if isinstance(error, FailedResponse):
        return error.status_code in statuses
    if isinstance(error, TimeoutError | OSError):  # own timeouts, refused or reset connections
        return True
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        if isinstance(error, httpx.TransportError):
            return True
        if isinstance(error, httpx.HTTPStatusError):
            return error.response.status_code in statuses
    return False
