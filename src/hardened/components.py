"""Explicit wiring: components registered by type, started in order, stopped in reverse.

Each start and each stop runs under its own timeout; a failed start names the component.
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
from typing import Any, Literal, TypeVar, cast

from starlette.requests import HTTPConnection

from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.errors import ConfigError, StartupFailed

__all__ = ["DEADLINE_USES", "Components", "DeadlineUse", "component"]

T = TypeVar("T")
Factory = Callable[[], AbstractAsyncContextManager[Any]]
# How a component spends the request budget, as its provider declares it:
# "hook" sends it downstream (an httpx client with `httpx_deadline_hook`), "reads" caps its
# calls with `remaining()`, "none" makes no per-request calls.
DeadlineUse = Literal["hook", "reads", "none"]
DEADLINE_USES: tuple[str, ...] = ("hook", "reads", "none")

logger = logging.getLogger("hardened.components")


@dataclass(slots=True)
class _Registration:
    kind: type[Any]
    factory: Factory | None
    value: Any = None
    started: bool = False
    stop_seconds: float | None = None
    start_timeout: float | None = None
    deadline: DeadlineUse | None = None


def _positive(name: str, seconds: float | None) -> None:
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0
    ):
        raise ConfigError(f"{name} must be positive seconds, got {seconds!r}")


def _deadline_use(value: str | None) -> DeadlineUse | None:
    if value is not None and value not in DEADLINE_USES:
        raise ConfigError(f"deadline must be one of {DEADLINE_USES} or None, got {value!r}")
    return cast("DeadlineUse | None", value)


class Components:
    """The registry of one service: by type, in registration order."""

    def __init__(
        self, *, stop_timeout: float = 2.0, start_timeout: float = 5.0, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        _positive("stop_timeout", stop_timeout)
        _positive("start_timeout", start_timeout)
        self._registrations: dict[type[Any], _Registration] = {}
        self._start_order: list[_Registration] = []
        self._managers: dict[type[Any], AbstractAsyncContextManager[Any]] = {}
        self._stop_timeout = stop_timeout
        self._start_timeout = start_timeout
        self._clock = clock
        self._starting: asyncio.Task[Any] | None = None
        self._aborted = False

    @property
    def start_timeout(self) -> float:
        """Seconds each component gets to start unless its registration says otherwise."""
        return self._start_timeout

    @start_timeout.setter
    def start_timeout(self, seconds: float) -> None:
        _positive("start_timeout", seconds)
        self._start_timeout = seconds

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
        self,
        kind: type[T],
        factory: Callable[[], AbstractAsyncContextManager[T]],
        *,
        start_timeout: float | None = None,
        deadline: DeadlineUse | None = None,
    ) -> None:
        """Register `factory`, an async context manager factory that yields the component.

        `start_timeout` overrides the registry's; `deadline` declares how the component spends
        the request budget (see `DeadlineUse`), for the deadline gate.
        """
        _positive("start_timeout", start_timeout)
        use = _deadline_use(deadline)
        self._add(
            _Registration(kind=kind, factory=factory, start_timeout=start_timeout, deadline=use)
        )

    def register_value(
        self, kind: type[T], value: T, *, deadline: DeadlineUse | None = None
    ) -> None:
        """Register a ready value that needs no start or stop (settings, a clock)."""
        use = _deadline_use(deadline)
        self._add(_Registration(kind=kind, factory=None, value=value, started=True, deadline=use))

    def provide(
        self,
        kind: type[T],
        *,
        start_timeout: float | None = None,
        deadline: DeadlineUse | None = None,
    ) -> Callable[[Callable[[], AsyncIterator[T]]], Callable[[], AsyncIterator[T]]]:
        """Decorator: register an async generator that yields the component, then cleans up."""
        _positive("start_timeout", start_timeout)
        _deadline_use(deadline)

        def decorate(fn: Callable[[], AsyncIterator[T]]) -> Callable[[], AsyncIterator[T]]:
            factory = contextlib.asynccontextmanager(fn)
            self.register(kind, factory, start_timeout=start_timeout, deadline=deadline)
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

    def declared_deadline(self, kind: type[Any]) -> DeadlineUse | None:
        """How the provider of `kind` declared it spends the budget, if it did."""
        registration = self._registrations.get(kind)
        return registration.deadline if registration is not None else None

    def describe(self) -> list[dict[str, Any]]:
        """What is registered, for the gate report."""
        return [
            {
                "type": f"{r.kind.__module__}.{r.kind.__qualname__}",
                "lifecycle": "managed" if r.factory is not None else "value",
                "started": r.started,
                "stop_seconds": r.stop_seconds,
                "start_timeout_s": (r.start_timeout or self._start_timeout)
                if r.factory is not None
                else None,
            }
            for r in self._registrations.values()
        ]

    async def start(self) -> None:
        """Start every component in registration order, each under its start timeout.

        On failure, those already up are stopped and `StartupFailed` names the component.
        """
        self._start_order = []
        self._starting, self._aborted = asyncio.current_task(), False
        try:
            for registration in self._registrations.values():
                if registration.factory is not None:
                    await self._start_one(registration, registration.factory)
        finally:
            self._starting = None

    async def _start_one(self, registration: _Registration, factory: Factory) -> None:
        name = registration.kind.__qualname__
        seconds = registration.start_timeout or self._start_timeout
        manager = factory()
        try:
            async with asyncio.timeout(seconds):
                registration.value = await manager.__aenter__()
        except BaseException as exc:
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and self._aborted and task is not None:
                task.uncancel()
            await self.stop()
            if isinstance(exc, TimeoutError) and not self._aborted:
                raise StartupFailed(
                    f"{name} did not start within {seconds:g}s (its start_timeout)"
                ) from None
            if isinstance(exc, asyncio.CancelledError) and self._aborted:
                raise StartupFailed(f"start-up stopped by a signal while {name} started") from None
            if isinstance(exc, Exception):
                raise StartupFailed(f"{name} failed to start: {type(exc).__name__}: {exc}") from exc
            raise
        registration.started = True
        self._start_order.append(registration)
        self._managers[registration.kind] = manager

    def abort_start(self) -> bool:
        """Cancel a start in progress (a signal came); True when one was running."""
        task = self._starting
        if task is None or task.done():
            return False
        self._aborted = True
        task.cancel()
        return True

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
