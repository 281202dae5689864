"""Explicit wiring: start in registration order, stop in reverse, override after start-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Components, ConfigError, Service, component
from hardened._lifespan import InnerLifespan
from hardened.errors import StartupFailed


class Database:
    pass


class Cache:
    pass


class Processor:
    pass


def _recording(events: list[str], name: str, value: Any) -> Any:
    async def factory() -> AsyncIterator[Any]:
        events.append(f"start {name}")
        try:
            yield value
        finally:
            events.append(f"stop {name}")

    return factory


async def test_components_start_in_order_and_stop_in_reverse() -> None:
    """Three components record their order: start A, B, C; stop C, B, A."""
    events: list[str] = []
    components = Components()
    components.provide(Database)(_recording(events, "db", Database()))
    components.provide(Cache)(_recording(events, "cache", Cache()))
    components.provide(Processor)(_recording(events, "processor", Processor()))
    await components.start()
    assert isinstance(components.get(Cache), Cache)
    await components.stop()
    assert events == [
        "start db",
        "start cache",
        "start processor",
        "stop processor",
        "stop cache",
        "stop db",
    ]


async def test_failed_start_stops_what_already_started() -> None:
    """A failed third start stops the first two in reverse; the error names the component."""
    events: list[str] = []
    components = Components()
    components.provide(Database)(_recording(events, "db", Database()))
    components.provide(Cache)(_recording(events, "cache", Cache()))

    async def broken() -> AsyncIterator[Processor]:
        raise OSError("processor unreachable")
        yield Processor()  # pragma: no cover

    components.provide(Processor)(broken)
    with pytest.raises(
        StartupFailed, match=r"Processor failed to start: OSError: .*unreachable"
    ) as failed:
        await components.start()
    assert isinstance(failed.value.__cause__, OSError)
    assert events == ["start db", "start cache", "stop cache", "stop db"]


async def test_a_hanging_teardown_is_bounded_and_the_rest_still_stop() -> None:
    """A component whose stop hangs is abandoned after its timeout; earlier ones still stop."""
    events: list[str] = []
    components = Components(stop_timeout=0.2)
    components.provide(Database)(_recording(events, "db", Database()))

    async def hangs() -> AsyncIterator[Cache]:
        yield Cache()
        await asyncio.Event().wait()

    components.provide(Cache)(hangs)
    await components.start()
    await asyncio.wait_for(components.stop(), timeout=10)
    assert events == ["start db", "stop db"]
    described = {d["type"].rsplit(".", 1)[-1]: d for d in components.describe()}
    assert described["Cache"]["stop_seconds"] >= 0.2


async def test_override_after_start_up() -> None:
    """A started component replaced by type: handlers get the stand-in; its own stop still runs."""
    events: list[str] = []
    original, replacement = Cache(), Cache()

    async def which(request: Request) -> Response:
        cache = component(request, Cache)
        return PlainTextResponse("replacement" if cache is replacement else "original")

    service = Service("svc", routes=[Route("/which", which)])
    service.components.provide(Cache)(_recording(events, "cache", original))
    transport = httpx.ASGITransport(app=service)
    await service.components.start()
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/which")).text == "original"
            service.components.override(Cache, replacement)
            assert (await client.get("/which")).text == "replacement"
    finally:
        await service.components.stop()
    assert events == ["start cache", "stop cache"], "the started original is still torn down"
    with pytest.raises(LookupError, match="no component registered as Database"):
        service.components.override(Database, Database())


def test_lookup_errors_name_the_type() -> None:
    """Asking for an unregistered or unstarted component says which one."""
    components = Components()
    with pytest.raises(LookupError, match="no component registered as Cache"):
        components.get(Cache)
    components.provide(Database)(_recording([], "db", Database()))
    with pytest.raises(LookupError, match="not started"):
        components.get(Database)
    with pytest.raises(ConfigError, match="already registered"):
        components.register_value(Database, Database())


async def test_service_lifespan_runs_components_and_the_wrapped_app_lifespan() -> None:
    """The service's lifespan starts components, then the app's own lifespan; stops in reverse."""
    events: list[str] = []
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette

    @asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("start app")
        yield
        events.append("stop app")

    service = Service("svc", app=Starlette(lifespan=app_lifespan))
    service.components.provide(Database)(_recording(events, "db", Database()))
    driver = InnerLifespan(service, {})
    await driver.startup()
    assert service.readiness() == (True, "ready")
    await driver.shutdown()
    assert events == ["start db", "start app", "stop app", "stop db"]
    assert service.readiness() == (False, "stopped")


async def test_start_up_failure_is_reported_to_the_server() -> None:
    """A component that cannot start fails the lifespan with its error, so the server exits."""

    async def broken() -> AsyncIterator[Database]:
        raise ConnectionRefusedError("postgres down")
        yield Database()  # pragma: no cover

    service = Service("svc")
    service.components.provide(Database)(broken)
    driver = InnerLifespan(service, {})
    with pytest.raises(RuntimeError, match="ConnectionRefusedError: postgres down"):
        await driver.startup()
    assert service.readiness() == (False, "stopped")


async def test_a_hanging_start_fails_after_its_own_timeout_naming_the_component() -> None:
    """A start that hangs past its timeout fails naming the component; earlier ones stop."""
    events: list[str] = []
    components = Components()
    assert components.start_timeout == 5.0  # the default, a few seconds
    components.provide(Database)(_recording(events, "db", Database()))

    async def hangs() -> AsyncIterator[Cache]:
        await asyncio.Event().wait()
        yield Cache()  # pragma: no cover

    start_timeout = 0.1
    components.provide(Cache, start_timeout=start_timeout)(hangs)
    began = asyncio.get_running_loop().time()
    with pytest.raises(StartupFailed, match=r"Cache did not start within 0\.1s"):
        await components.start()
    assert start_timeout <= asyncio.get_running_loop().time() - began < start_timeout + 1.0
    assert events == ["start db", "stop db"]
    assert components.describe()[1]["start_timeout_s"] == start_timeout
