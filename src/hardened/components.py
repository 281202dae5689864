"""Explicit wiring: components registered by type, started in order, stopped in reverse.

Handlers fetch them from the request by type (`component(request, Pool)`); tests replace one
after start-up with `Components.override`. Nothing here is global: each `Service` owns one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from starlette.requests import HTTPConnection

from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.errors import ConfigError

__all__ = ["Components", "component"]

T = TypeVar("T")
Factory = Callable[[], AbstractAsyncContextManager[Any]]

logger = logging.getLogger("hardened.components")


@dataclass(slots=True)
class _Registration:
    kind: type[Any]
    factory: Factory | None
    value: Any = None
    started: bool = False
    stop_seconds: float | None = None


class Components:
    """The registry of one service: by type, in registration order."""

    def __init__(self, *, stop_timeout: float = 2.0, clock: Clock = SYSTEM_CLOCK) -> None:
        if stop_timeout <= 0:
            raise ConfigError("stop_timeout must be positive")
        self._registrations: dict[type[Any], _Registration] = {}
        self._start_order: list[_Registration] = []
        self._managers: dict[type[Any], AbstractAsyncContextManager[Any]] = {}
        self._stop_timeout = stop_timeout
        self._clock = clock

    @property
    def stop_timeout(self) -> float:
        """Seconds each component gets to stop before it is abandoned."""
        return self._stop_timeout

    @stop_timeout.setter
    def stop_timeout(self, seconds: float) -> None:
        if seconds <= 0:
            raise ConfigError("stop_timeout must be positive")
        self._stop_timeout = seconds

    def register(
        self, kind: type[T], factory: Callable[[], AbstractAsyncContextManager[T]]
    ) -> None:
        """Register `factory`, an async context manager factory that yields the component."""
        self._add(_Registration(kind=kind, factory=factory))

    def register_value(self, kind: type[T], value: T) -> None:
        """Register a ready value that needs no start or stop (settings, a clock)."""
        self._add(_Registration(kind=kind, factory=None, value=value, started=True))

    def provide(
        self, kind: type[T]
    ) -> Callable[[Callable[[], AsyncIterator[T]]], Callable[[], AsyncIterator[T]]]:
        """Decorator: register an async generator that yields the component, then cleans up."""

        def decorate(fn: Callable[[], AsyncIterator[T]]) -> Callable[[], AsyncIterator[T]]:
            self.register(kind, contextlib.asynccontextmanager(fn))
            return fn

        return decorate

    def _add(self, registration: _Registration) -> None:
        if registration.kind in self._registrations:
            raise ConfigError(f"{registration.kind.__qualname__} is already registered")
        self._registrations[registration.kind] = registration

    def get(self, kind: type[T]) -> T:
        """The started component registered as `kind`."""
        registration = self._registrations.get(kind)
        if registration is None:
            raise LookupError(f"no component registered as {kind.__qualname__}")
        if not registration.started:
            raise LookupError(f"{kind.__qualname__} is registered but not started")
        return cast(T, registration.value)

    def override(self, kind: type[T], value: T) -> None:
        """Replace a component after start-up (tests); its own teardown still runs."""
        registration = self._registrations.get(kind)
        if registration is None:
            raise LookupError(f"no component registered as {kind.__qualname__}")
        registration.value = value
        registration.started = True

    def __contains__(self, kind: object) -> bool:
        return kind in self._registrations

    def kinds(self) -> list[type[Any]]:
        """Registered types in registration order."""
        return list(self._registrations)

    def describe(self) -> list[dict[str, Any]]:
        """What is registered, for the gate report."""
        return [
            {
                "type": f"{r.kind.__module__}.{r.kind.__qualname__}",
                "lifecycle": "managed" if r.factory is not None else "value",
                "started": r.started,
                "stop_seconds": r.stop_seconds,
            }
            for r in self._registrations.values()
        ]

    async def start(self) -> None:
        """Start every component in registration order; on failure stop those already up."""
        self._start_order = []
        for registration in self._registrations.values():
            if registration.factory is None:
                continue
            manager = registration.factory()
            try:
                registration.value = await manager.__aenter__()
            except BaseException:
                await self.stop()
                raise
            registration.started = True
            self._start_order.append(registration)
            self._managers[registration.kind] = manager

    async def stop(self) -> None:
        """Stop started components in reverse start order, each under its own timeout."""
        for registration in reversed(self._start_order):
            manager = self._managers.pop(registration.kind)
            began = self._clock.monotonic()
            try:
                async with asyncio.timeout(self._stop_timeout):
                    await manager.__aexit__(None, None, None)
            except TimeoutError:
                logger.error(  # noqa: TRY400 - a timeout, not a bug: no traceback
                    "stopping %s took longer than %.1fs; abandoned",
                    registration.kind.__qualname__,
                    self._stop_timeout,
                )
            except Exception:
                logger.exception("stopping %s failed", registration.kind.__qualname__)
            registration.stop_seconds = round(self._clock.monotonic() - began, 4)
            registration.started = False
        self._start_order = []


def component(connection: HTTPConnection, kind: type[T]) -> T:
    """Fetch a started component by type from inside a handler."""
    service = connection.scope.get("hardened.service")
    if service is None:
        raise LookupError("this request was not served by a hardened Service")
    components: Components = service.components
    return components.get(kind)
