"""Lifecycle: signals and PID 1, the hardened uvicorn runner (edge limits join here)."""

from hardened.lifecycle.runner import HardenedServer, RunConfig, run

__all__ = ["HardenedServer", "RunConfig", "run"]
