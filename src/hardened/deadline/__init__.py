"""Deadline: the one request budget, set at the edge, read everywhere below it.

Other mechanisms use four names: `remaining()` (seconds left, None outside a request),
`cap(seconds)` (a timeout lowered to the budget), `deadline_scope(seconds)` (narrow and
enforce the budget for a block) and `outbound_headers()` (the budget for a downstream call;
`httpx_deadline_hook` does it for httpx). Expiry raises `DeadlineExceeded`, answered 504.
"""

from hardened.deadline._budget import (
    Budget,
    cap,
    current_budget,
    deadline_scope,
    ensure_time_left,
    remaining,
)
from hardened.deadline._config import DeadlineConfig, route_timeout
from hardened.deadline._gate import DeadlineGate
from hardened.deadline._headers import (
    CALLER_BUDGET_HEADERS,
    GRPC_TIMEOUT_HEADER,
    REQUEST_TIMEOUT_HEADER,
    caller_budget,
    httpx_deadline_hook,
    outbound_headers,
    parse_grpc_timeout,
    parse_request_timeout,
)
from hardened.deadline._install import Deadline
from hardened.deadline._stage import DeadlineStage
from hardened.wiring import DeadlineConsumer

__all__ = [
    "CALLER_BUDGET_HEADERS",
    "GRPC_TIMEOUT_HEADER",
    "REQUEST_TIMEOUT_HEADER",
    "Budget",
    "Deadline",
    "DeadlineConfig",
    "DeadlineConsumer",
    "DeadlineGate",
    "DeadlineStage",
    "caller_budget",
    "cap",
    "current_budget",
    "deadline_scope",
    "ensure_time_left",
    "httpx_deadline_hook",
    "outbound_headers",
    "parse_grpc_timeout",
    "parse_request_timeout",
    "remaining",
    "route_timeout",
]
