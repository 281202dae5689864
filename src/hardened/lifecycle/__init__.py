"""Lifecycle: signals and PID 1, body limit, backpressure, slow clients, the uvicorn runner.

The runner (`HardenedServer`, `RunConfig`, `run`) imports uvicorn, so it loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardened.lifecycle._framing import HeaderLimits
from hardened.lifecycle.config import LifecycleConfig, MiB, body_limit
from hardened.lifecycle.gate import Lifecycle, LifecycleGate
from hardened.lifecycle.process import ProcessFacts, inspect_process

if TYPE_CHECKING:
    from hardened.lifecycle.runner import HardenedServer, RunConfig, run

__all__ = [
    "HardenedServer",
    "HeaderLimits",
    "Lifecycle",
    "LifecycleConfig",
    "LifecycleGate",
    "MiB",
    "ProcessFacts",
    "RunConfig",
    "body_limit",
    "inspect_process",
    "run",
]

_RUNNER_NAMES = frozenset({"HardenedServer", "RunConfig", "run"})


def __getattr__(name: str) -> Any:
    if name in _RUNNER_NAMES:
        from hardened.lifecycle import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
