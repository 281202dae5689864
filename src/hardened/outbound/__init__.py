"""Outbound calls: one `Dependency` per external service, composing in a fixed order the total
deadline, retries with their budget, the breaker, the bulkhead and the attempt timeout.

    processor = Dependency("processor", DependencyConfig(attempt_timeout=1.0))
    service = Service("payments", mechanisms=[processor])
    client = httpx.AsyncClient(transport=processor.transport())   # or: await processor.call(fn)
"""

from hardened.outbound._classify import FailedResponse, is_failure
from hardened.outbound._config import FAILURE_STATUSES, DependencyConfig
from hardened.outbound._dependency import Dependency
from hardened.outbound._hooks import DependencyHooks, PrometheusHooks

__all__ = [
    "FAILURE_STATUSES",
    "Dependency",
    "DependencyConfig",
    "DependencyHooks",
    "FailedResponse",
    "PrometheusHooks",
    "is_failure",
]
