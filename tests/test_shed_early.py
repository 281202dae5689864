"""The shedder's refusal at headers-complete, through real `hardened run` processes.

Each test holds the server's event loop (`tests/apps/shed_early.py`), queues requests on warm
keep-alive connections behind it, waits `LATE` seconds and lets it go: the loop then reads them
that late, whatever the machine's speed. Under httptools (the default) the shedder decides them
before any task exists; `--http h11` keeps the decision in the `shed` stage, the answer the
early one must match.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hardened.testing import RunningServer, run_server
from tests.apps.shed_early import SECRET

APP = "tests.apps.shed_early:app"
LATE = 0.2  # how long the queued requests wait behind the held loop
LIMIT = 10.0  # every read and wait of these tests is bounded by this

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Answer = tuple[int, dict[str, str], bytes]


@contextmanager
def _server(repo_root: Path, tmp_path: Path, *, http: str = "auto", **env: str) -> Iterator[Any]:
    args = ["--http", http] if http != "auto" else []
    env = {"SHED_EARLY_DIR": str(tmp_path), **env}
    with run_server(APP, cwd=repo_root, env=env, args=args) as server:
        yield server


def _request(method: str, path: str, headers: Mapping[str, str] | None = None) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "host: t",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_answer(reader: asyncio.StreamReader, *, head: bool = False) -> Answer:
    """One response: status, headers (lower-case names), body (none for a HEAD)."""
    async with asyncio.timeout(LIMIT):
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = 0 if head else int(headers.get("content-length", "0"))
        body = await reader.readexactly(length)
    return int(lines[0].split(" ", 2)[1]), headers, body


async def _warm(port: int, count: int) -> list[Conn]:
    """`count` keep-alive connections, each accepted and proven by one answered request."""
    conns = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_request("GET", "/work"))
        assert (await _read_answer(reader))[0] == 200
        conns.append((reader, writer))
    return conns


async def _wait_for(path: Path) -> None:
    """Until `path` exists (the server's hold writes it), polling: another process's doing."""
    async with asyncio.timeout(LIMIT):
        while not await asyncio.to_thread(path.exists):  # noqa: ASYNC110
            await asyncio.sleep(0.005)


@asynccontextmanager
async def _held(port: int, folder: Path) -> AsyncIterator[None]:
    """The server's loop is held inside; on the way out, `LATE` seconds more, then released."""
    name = uuid.uuid4().hex
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_request("GET", f"/hold?id={name}"))
    try:
        await _wait_for(folder / f"{name}.held")
        yield
        await asyncio.sleep(LATE)
    finally:
        (folder / f"{name}.release").touch()
    assert (await _read_answer(reader))[0] == 200
    writer.close()


async def _queued(port: int, folder: Path, requests: list[bytes]) -> list[Conn]:
    """Each request on a warm connection of its own, sent while the loop is held."""
    conns = await _warm(port, len(requests))
    async with _held(port, folder):
        for (_, writer), request in zip(conns, requests, strict=True):
            writer.write(request)
            await writer.drain()
    return conns


def _shed(server: RunningServer) -> dict[str, Any]:
    report = httpx.get(f"{server.admin_url}/gates").json()
    evidence: dict[str, Any] = next(g for g in report["gates"] if g["name"] == "observe")
    return dict(evidence["evidence"]["shed"])


def _samples(server: RunningServer, name: str) -> dict[frozenset[tuple[str, str]], float]:
    text = httpx.get(f"{server.admin_url}/metrics").text
    return {
        frozenset(sample.labels.items()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def _refusals(repo_root: Path, tmp_path: Path, http: str) -> tuple[list[Answer], dict[str, Any]]:
    """Three requests refused behind a held loop: their answers and what the server counted."""
    requests = [
        _request("GET", "/batch"),  # sheddable by route
        _request("GET", "/work"),  # standard, waited past the interval
        _request("GET", "/work", {"x-priority": "critical"}),  # an untrusted claim: sheddable
    ]
    with _server(repo_root, tmp_path, http=http) as server:

        async def drive() -> list[Answer]:
            conns = await _queued(server.port, tmp_path, requests)
            return [await _read_answer(reader) for reader, _ in conns]

        answers = asyncio.run(drive())
        counted = {
            "shed": _shed(server),
            "rejected": _samples(server, "http_server_shed_rejected_total"),
            "red": _samples(server, "http_server_requests_total"),
        }
    return answers, counted


def test_an_early_refusal_is_the_stage_refusal(repo_root: Path, tmp_path: Path) -> None:
    """Refused at headers-complete (httptools) or in the stage (h11): the same 503 answer
    (status, body, headers but the date and the jittered Retry-After), the same counters,
    evidence and RED series; only `rejected_early_total` says where it was decided."""
    early, early_counted = _refusals(repo_root, tmp_path, "auto")
    stage, stage_counted = _refusals(repo_root, tmp_path, "h11")
    for (status, headers, body), (s_status, s_headers, s_body) in zip(early, stage, strict=True):
        assert status == s_status == 503
        assert body == s_body
        assert b'"title":"Service Unavailable"' in body or b"load-shed" in body
        assert 1 <= int(headers.pop("retry-after")) <= 5
        assert 1 <= int(s_headers.pop("retry-after")) <= 5
        headers.pop("date"), s_headers.pop("date")
        assert headers == s_headers
        assert headers["content-type"] == "application/problem+json"
        assert "connection" not in headers  # no body, no close token: the connection is kept
    for counted in (early_counted, stage_counted):
        assert counted["shed"]["rejected_total"] == 3
        assert counted["shed"]["priority_claims_ignored_total"] == 1
        rejected = counted["rejected"]
        assert rejected[frozenset({("reason", "queue_delay"), ("priority", "sheddable")})] == 2
        assert rejected[frozenset({("reason", "queue_delay"), ("priority", "standard")})] == 1
        red = counted["red"]
        assert red[frozenset({("method", "GET"), ("route", "__shed__"), ("status", "503")})] == 3
    assert early_counted["shed"]["rejected_early_total"] == 3
    assert stage_counted["shed"]["rejected_early_total"] == 0


def test_probes_and_critical_requests_are_never_refused_early(
    repo_root: Path, tmp_path: Path
) -> None:
    """Behind the same held loop, probes, a critical route and a trusted critical claim are
    all served; the claim is counted once though it is decided twice."""
    requests = [
        _request("GET", "/livez"),
        _request("GET", "/readyz"),
        _request("GET", "/critical/work"),
        _request("GET", "/batch", {"x-priority": "critical", "x-gateway-secret": SECRET}),
        _request("GET", "/batch"),  # the control: this one is refused
    ]
    with _server(repo_root, tmp_path) as server:

        async def drive() -> list[int]:
            conns = await _queued(server.port, tmp_path, requests)
            return [(await _read_answer(reader))[0] for reader, _ in conns]

        statuses = asyncio.run(drive())
        shed = _shed(server)
    assert statuses == [200, 200, 200, 200, 503]
    assert shed["rejected_total"] == shed["rejected_early_total"] == 1
    assert shed["priority_claims_honoured_total"] == 1
    assert shed["priority_claims_ignored_total"] == 0


def test_an_untrusted_claim_does_not_escape_the_early_refusal(
    repo_root: Path, tmp_path: Path
) -> None:
    """Trusting loopback's network: a claim from loopback holds; the same claim forwarded for
    another client (uvicorn's proxy headers, applied before the early decision) is shed."""
    forwarded = {"x-priority": "critical", "x-forwarded-for": "203.0.113.7"}
    requests = [
        _request("GET", "/batch", {"x-priority": "critical"}),
        _request("GET", "/batch", forwarded),
        _request("GET", "/batch", {**forwarded, "x-gateway-secret": "not-the-secret-at-all"}),
    ]
    with _server(repo_root, tmp_path, SHED_TRUSTED_NETWORKS="127.0.0.0/8") as server:

        async def drive() -> list[int]:
            conns = await _queued(server.port, tmp_path, requests)
            return [(await _read_answer(reader))[0] for reader, _ in conns]

        statuses = asyncio.run(drive())
        shed = _shed(server)
    assert statuses == [200, 503, 503]
    assert shed["rejected_early_total"] == 2
    assert (shed["priority_claims_honoured_total"], shed["priority_claims_ignored_total"]) == (1, 2)


async def _served_again(port: int) -> int:
    """Once the queue delay the hold left behind is measured away (the next heartbeat): the
    status of a request on a new connection."""
    status = 0
    async with asyncio.timeout(LIMIT):
        while status != 200:
            await asyncio.sleep(0.05)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_request("GET", "/work"))
            status = (await _read_answer(reader))[0]
            writer.close()
    return status


async def _rest_of_body(conn: Conn, rest: bytes) -> bytes:
    """Send the rest of a refused request's body, end the write side; what else arrives."""
    reader, writer = conn
    writer.write(rest)
    await writer.drain()
    writer.write_eof()
    async with asyncio.timeout(LIMIT):
        return await reader.read()


@pytest.mark.parametrize("http", ["auto", "h11"])
def test_a_refused_request_with_a_body_closes_its_connection(
    repo_root: Path, tmp_path: Path, http: str
) -> None:
    """A refused POST (a whole body, a chunked one, one still arriving), each followed by a
    pipelined GET: one 503 with `Connection: close`, then the end of the connection; the
    pipelined GET is never served and the server goes on serving."""
    whole = _request("POST", "/upload", {"content-length": "5"}) + b"hello"
    chunked = _request("POST", "/upload", {"transfer-encoding": "chunked"})
    chunked += b"5\r\nhello\r\n0\r\n\r\n"
    arriving = _request("POST", "/upload", {"content-length": "100000"}) + b"x" * 1000
    requests = [
        whole + _request("GET", "/work"),
        chunked + _request("GET", "/work"),
        arriving,
    ]
    with _server(repo_root, tmp_path, http=http) as server:

        async def drive() -> tuple[list[Answer], list[bytes], int]:
            conns = await _queued(server.port, tmp_path, requests)
            answers = [await _read_answer(reader) for reader, _ in conns]
            after = [await _rest_of_body(conn, b"") for conn in conns[:2]]
            after.append(await _rest_of_body(conns[2], b"x" * 99000))
            return answers, after, await _served_again(server.port)

        answers, after, fresh = asyncio.run(drive())
        shed = _shed(server)
        red = _samples(server, "http_server_requests_total")
    for status, headers, _ in answers:
        assert (status, headers["connection"]) == (503, "close")
    assert after == [b"", b"", b""]
    assert fresh == 200
    assert shed["rejected_total"] == 3
    served = {dict(labels)["route"] for labels in red}
    assert "/upload" not in served  # neither the refused uploads nor the pipelined GETs ran
    assert red[frozenset({("method", "GET"), ("route", "/work"), ("status", "200")})] == 4


@pytest.mark.parametrize("http", ["auto", "h11"])
def test_pipelined_requests_are_answered_in_order(
    repo_root: Path, tmp_path: Path, http: str
) -> None:
    """Four requests pipelined in one write behind the held loop: a refused GET, a refused
    HEAD (no body), a critical GET served, and one decided in its turn; the connection then
    carries another request."""
    pipelined = b"".join(
        [
            _request("GET", "/batch"),
            _request("HEAD", "/batch"),
            _request("GET", "/critical/work"),
            _request("GET", "/batch"),
        ]
    )
    with _server(repo_root, tmp_path, http=http) as server:

        async def drive() -> tuple[list[Answer], int]:
            (conn,) = await _queued(server.port, tmp_path, [pipelined])
            reader, writer = conn
            answers = [
                await _read_answer(reader),
                await _read_answer(reader, head=True),
                await _read_answer(reader),
                await _read_answer(reader),
            ]
            status = 0
            async with asyncio.timeout(LIMIT):  # once calm again, the same connection serves
                while status != 200:
                    await asyncio.sleep(0.05)
                    writer.write(_request("GET", "/work"))
                    status = (await _read_answer(reader))[0]
            writer.close()
            return answers, status

        answers, status = asyncio.run(drive())
    assert [a[0] for a in answers[:3]] == [503, 503, 200]
    assert answers[0][2]
    assert answers[1][2] == b""
    assert answers[1][1]["content-length"] == answers[0][1]["content-length"]
    assert answers[2][2] == b"work"
    assert answers[3][0] in (200, 503)
    assert status == 200


def test_nothing_is_refused_early_while_calm(repo_root: Path, tmp_path: Path) -> None:
    """No held loop, a queue-delay target (1 s) no scheduler hiccup reaches: every priority,
    claimed or not, on warm and on new connections, is served; nothing is refused."""
    paths = ("/work", "/batch", "/critical/work", "/livez")
    with _server(repo_root, tmp_path, SHED_EARLY_TARGET="1.0") as server:

        async def drive() -> list[int]:
            conns = await _warm(server.port, 4)
            statuses = []
            for index in range(100):
                reader, writer = conns[index % 4]
                claim = {"x-priority": "critical"} if index % 3 == 0 else {}
                writer.write(_request("GET", paths[index % 4], claim))
                statuses.append((await _read_answer(reader))[0])
            for _, writer in conns:
                writer.close()
            for index in range(20):  # a new connection each
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(_request("GET", paths[index % 4]))
                statuses.append((await _read_answer(reader))[0])
                writer.close()
            return statuses

        statuses = asyncio.run(drive())
        shed = _shed(server)
    assert statuses == [200] * 120
    assert shed["rejected_total"] == shed["rejected_early_total"] == 0


@pytest.mark.parametrize("http", ["auto", "h11"])
def test_after_a_refusal_the_next_head_on_the_connection_is_still_bounded(
    repo_root: Path, tmp_path: Path, http: str
) -> None:
    """A refusal that keeps the connection leaves it reading heads as before: the next one,
    over the 64 KiB bound, is answered 431 and the connection closed."""
    big = {f"x-filler-{index}": "f" * 4000 for index in range(20)}
    with _server(repo_root, tmp_path, http=http) as server:

        async def drive() -> tuple[int, int, bytes]:
            (conn,) = await _queued(server.port, tmp_path, [_request("GET", "/batch")])
            reader, writer = conn
            refused = (await _read_answer(reader))[0]
            writer.write(_request("GET", "/work", big))
            status, _, _ = await _read_answer(reader)
            async with asyncio.timeout(LIMIT):
                rest = await reader.read()
            writer.close()
            return refused, status, rest

        refused, status, rest = asyncio.run(drive())
    assert (refused, status, rest) == (503, 431, b"")
