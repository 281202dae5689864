"""The early refusal's decision, one case at a time: the hook a server gets from the service.

Each test sets the shedder's queue delay by hand (no heartbeat runs between that and the call:
nothing awaits in between) and compares the hook with the `shed` stage given the same request.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Priority, Service
from hardened.endpoints import EndpointsConfig
from hardened.shed import ShedConfig, Shedder
from hardened.shed._early import EarlyRefusal
from hardened.shed._stage import EARLY_CLAIMS
from hardened.stages import Exchange, Refused

SECRET = "gateway-secret-0123456789"


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


def _service(*, observe: bool = True, **config: Any) -> tuple[Service, Shedder, EarlyRefusal]:
    settings: dict[str, Any] = {
        "route_priorities": (("/batch", Priority.SHEDDABLE), ("/critical", Priority.CRITICAL)),
        "trusted_secret_header": "x-gateway-secret",
        "trusted_secret": SECRET,
        "retry_after": (3, 3),
        "close_per_second": 0,
        **config,
    }
    kwargs: dict[str, Any] = {} if observe else {"observe": None}
    service = Service(
        "shed-early",
        routes=[Route("/{path:path}", ok, methods=["GET", "HEAD", "POST"])],
        shed=ShedConfig(**settings),
        endpoints=EndpointsConfig(admin_on_public_port=True),
        **kwargs,
    )
    hook = service.fact("shed.early_refusal")
    assert isinstance(hook, EarlyRefusal)
    assert service.shedder is not None
    return service, service.shedder, hook


def _scope(
    path: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    method: str = "GET",
    root_path: str = "",
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": root_path,
        "headers": headers or [],
        "client": ("203.0.113.7", 40000),
    }


def _delay(shedder: Shedder, seconds: float) -> None:
    """As if the last heartbeat ran `seconds` late (the next one is not due yet)."""
    shedder.monitor.ensure_running(asyncio.get_running_loop())
    shedder.monitor.last = seconds


def _stage(shedder: Shedder, scope: dict[str, Any]) -> tuple[Any, ...] | bool:
    """The stage's verdict on `scope`, given the header values the edge driver's scan finds."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in shedder.headers:
            found[name] = found[name] + b", " + value if name in found else value

    async def nothing(*_: Any) -> Any:
        return None

    exchange = Exchange(scope, nothing, nothing, found, 0.0, asyncio.get_running_loop())
    try:
        return shedder.enter(exchange)
    except Refused as refused:
        return refused.answer


def _red(service: Service, route: str, status: str) -> float | None:
    labels = {"method": "GET", "route": route, "status": status}
    return service.metrics_registry.get_sample_value("http_server_requests_total", labels)


async def test_a_calm_shedder_answers_nothing_and_reads_nothing() -> None:
    """Calm: None at once; the claim is not read (the stage reads it), nothing is counted."""
    _, shedder, hook = _service()
    scope = _scope("/batch", [(b"x-priority", b"critical")])
    _delay(shedder, 0.0)
    assert hook(scope) is None
    assert EARLY_CLAIMS not in scope
    state = shedder.state()
    assert (state["priority_claims_ignored_total"], state["rejected_total"]) == (0, 0)
    assert shedder.admitted == 0


async def test_the_first_request_starts_the_heartbeat() -> None:
    """Before any request the heartbeat does not run; the hook starts it on this loop, as the
    stage would, and the first request meets a calm queue: nothing decided, nothing read."""
    _, shedder, hook = _service()
    assert shedder.monitor.loop is None
    assert hook(_scope("/batch", [(b"x-priority", b"critical")])) is None
    assert shedder.monitor.loop is asyncio.get_running_loop()
    assert shedder.state()["priority_claims_ignored_total"] == 0
    shedder.monitor.stop()


async def test_an_early_refusal_is_the_stage_refusal() -> None:
    """Past the target a sheddable request gets the stage's very answer, counted the same
    (plus `rejected_early_total`) and in RED on `__shed__`."""
    service, shedder, hook = _service()
    _delay(shedder, 0.05)
    early_scope = _scope("/batch/1")
    began = time.monotonic()
    early = hook(early_scope)
    spent = time.monotonic() - began
    stage = _stage(shedder, _scope("/batch/1"))
    assert early is not None
    assert early == stage
    assert early[0] == 503
    assert (b"retry-after", b"3") in early[1]
    assert early_scope["hardened.shed"] == "queue_delay"
    state = shedder.state()
    assert (state["rejected_total"], state["rejected_early_total"]) == (2, 1)
    labels = {"reason": "queue_delay", "priority": "sheddable"}
    assert service.metrics_registry.get_sample_value("http_server_shed_rejected_total", labels) == 2
    assert _red(service, "__shed__", "503") == 1  # the stage's is counted by the observe stage
    timed = {"method": "GET", "route": "__shed__", "status_class": "5xx"}
    registry = service.metrics_registry
    assert registry.get_sample_value("http_server_request_duration_seconds_count", timed) == 1
    duration = registry.get_sample_value("http_server_request_duration_seconds_sum", timed)
    assert duration is not None
    assert 0 < duration <= spent  # the hook's own time, not since some other instant


@pytest.mark.parametrize(
    ("delay", "path", "refused"),
    [
        (0.05, "/work", False),  # standard may queue a burst up to the interval
        (0.15, "/work", True),
        (0.15, "/critical/x", False),  # critical only past 250 ms
        (0.30, "/critical/x", True),
        (0.02, "/batch", False),  # at the target: not even decided here (calm)
    ],
)
async def test_early_and_stage_agree_on_every_priority(
    delay: float, path: str, refused: bool
) -> None:
    """Around each priority's threshold the hook refuses exactly what the stage refuses."""
    _, shedder, hook = _service()
    _delay(shedder, delay)
    early = hook(_scope(path))
    stage = _stage(shedder, _scope(path))
    assert (early is not None) is refused
    assert (stage is not True) is refused
    if refused:
        assert early == stage


@pytest.mark.parametrize(
    ("path", "root_path"),
    [
        ("/livez", ""),
        ("/readyz", ""),
        ("/metrics", ""),  # admin endpoints on the public port are answered before the stack
        ("/gates", ""),
        ("/api/livez", "/api"),  # served under a root path: the service strips it
        ("/livez", "/api"),  # a path outside the root path is matched as it is
        ("/internal/x", ""),  # an exempt prefix of the shed config
    ],
)
async def test_what_never_meets_the_shedder_passes(path: str, root_path: str) -> None:
    """Probes, public admin endpoints and exempt paths pass however late, uncounted."""
    _, shedder, hook = _service(exempt_paths=("/internal",))
    _delay(shedder, 1.0)
    assert hook(_scope(path, root_path=root_path)) is None
    assert shedder.state()["rejected_total"] == 0
    assert hook(_scope("/livez/more")) is not None  # a probe's path, not a prefix


async def test_an_admitted_request_is_decided_again_with_its_claims_read_once() -> None:
    """A trusted critical claim is admitted early; the stage decides it again with the claims
    read then: honoured once, admitted once."""
    _, shedder, hook = _service()
    _delay(shedder, 0.15)
    headers = [(b"x-priority", b"critical"), (b"x-gateway-secret", SECRET.encode())]
    scope = _scope("/batch", headers)
    assert hook(scope) is None
    assert scope[EARLY_CLAIMS] == (b"critical", None)
    assert _stage(shedder, scope) is True
    state = shedder.state()
    assert (state["priority_claims_honoured_total"], state["priority_claims_ignored_total"]) == (
        1,
        0,
    )
    assert shedder.admitted == 1


async def test_an_untrusted_claim_is_refused_as_sheddable() -> None:
    """`critical` without the gateway's secret: refused early, counted as sheddable."""
    service, shedder, hook = _service()
    _delay(shedder, 0.05)
    wrong = [(b"x-priority", b"critical"), (b"x-gateway-secret", b"guessed-0123456789")]
    assert hook(_scope("/work", wrong)) is not None
    labels = {"reason": "queue_delay", "priority": "sheddable"}
    assert service.metrics_registry.get_sample_value("http_server_shed_rejected_total", labels) == 1
    assert shedder.state()["priority_claims_ignored_total"] == 1


async def test_repeated_headers_are_joined_as_the_edge_driver_joins_them() -> None:
    """Two trusted `critical` claims read "critical, critical", no priority at all: the
    route's standard priority is refused early as by the stage; two budgets, the nearest."""
    _, shedder, hook = _service()
    _delay(shedder, 0.15)
    secret = (b"x-gateway-secret", SECRET.encode())
    twice = [(b"x-priority", b"critical"), secret, (b"x-priority", b"critical")]
    assert hook(_scope("/work", twice)) == _stage(shedder, _scope("/work", twice))
    assert hook(_scope("/work", twice)) is not None
    budgets = [(b"x-request-timeout", b"0.1"), (b"x-request-timeout", b"30")]
    answer = hook(_scope("/critical/x", budgets))
    assert answer is not None
    assert answer[0] == 504  # 0.1 s left, 0.15 s queued: the nearest budget counts


async def test_a_spent_caller_budget_is_answered_504_on_the_caller_route() -> None:
    """The caller's budget is shorter than the queue delay: 504, counted on `__caller__`."""
    service, shedder, hook = _service()
    _delay(shedder, 0.05)
    answer = hook(_scope("/critical/x", [(b"x-request-timeout", b"0.01")]))
    assert answer is not None
    assert answer[0] == 504
    assert _red(service, "__caller__", "504") == 1
    assert _red(service, "__shed__", "504") is None


async def test_the_accept_queue_wait_counts_except_for_critical() -> None:
    """On a calm loop, a new connection's request that waited 50 ms for accept is decided:
    sheddable is refused, standard and critical are not."""
    _, shedder, hook = _service()
    _delay(shedder, 0.0)
    now = asyncio.get_running_loop().time()
    verdicts = {}
    for path in ("/batch", "/work", "/critical/x"):
        scope = _scope(path)
        scope["hardened.arrived"] = now - 0.05
        verdicts[path] = hook(scope) is not None
    assert verdicts == {"/batch": True, "/work": False, "/critical/x": False}


async def test_a_short_accept_queue_wait_on_a_calm_loop_decides_nothing() -> None:
    """A new connection's request that waited less than the target for accept, on a calm
    loop: nothing decided here, the claim not even read."""
    _, shedder, hook = _service()
    _delay(shedder, 0.0)
    scope = _scope("/batch", [(b"x-priority", b"critical")])
    scope["hardened.arrived"] = asyncio.get_running_loop().time() - 0.001
    assert hook(scope) is None
    assert EARLY_CLAIMS not in scope
    assert shedder.state()["priority_claims_ignored_total"] == 0


async def test_a_refused_request_with_a_body_closes_its_connection() -> None:
    """A body (sized or chunked) was never read: its refusal says `Connection: close`."""
    _, shedder, hook = _service()
    _delay(shedder, 0.05)
    for header in ((b"content-length", b"5"), (b"transfer-encoding", b"chunked")):
        answer = hook(_scope("/batch", [header], method="POST"))
        assert answer is not None
        assert (b"connection", b"close") in answer[1]
    answer = hook(_scope("/batch"))
    assert answer is not None
    assert (b"connection", b"close") not in answer[1]
    assert shedder.state()["rejected_early_total"] == 3


async def test_without_observe_the_refusal_still_happens() -> None:
    """RED off: nothing to count it in, the same refusal."""
    _, shedder, hook = _service(observe=False)
    _delay(shedder, 0.05)
    assert hook(_scope("/batch")) is not None
    assert shedder.state()["rejected_early_total"] == 1


def test_no_shedder_no_early_refusal() -> None:
    """`shed=None`: the fact is absent and a server keeps the plain path."""
    service = Service("plain", routes=[Route("/", ok)], shed=None)
    assert service.fact("shed.early_refusal") is None
