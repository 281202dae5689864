"""RFC 9457 problem+json answers: the one place where an error becomes an HTTP response."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hardened.errors import HardenedError, MalformedBody

__all__ = ["malformed_json_handler", "problem_response", "send_error", "send_problem"]

PROBLEM_CONTENT_TYPE = b"application/problem+json"


def problem_body(
    status: int, title: str, *, detail: str = "", problem_type: str = "about:blank"
) -> bytes:
    """Encode a problem document."""
    document: dict[str, object] = {"type": problem_type, "title": title, "status": status}
    if detail and detail != title:
        document["detail"] = detail
    return json.dumps(document, separators=(",", ":")).encode()


def problem_response(
    error: HardenedError, *, close: bool = False
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, raw headers and body for `error`."""
    body = problem_body(
        error.status, error.title, detail=error.detail, problem_type=error.problem_type
    )
    headers = [
        (b"content-type", PROBLEM_CONTENT_TYPE),
        (b"content-length", str(len(body)).encode()),
    ]
    if error.retry_after is not None:
        headers.append((b"retry-after", str(max(1, math.ceil(error.retry_after))).encode()))
    if close or error.close:
        headers.append((b"connection", b"close"))
    return error.status, headers, body


async def send_problem(
    send: Send,
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    """Send a complete response through a raw ASGI `send`."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(
    scope: Scope,
    receive: Receive,
    send: Send,
    error: HardenedError,
    *,
    close: bool = False,
    extra_headers: Mapping[bytes, bytes] | None = None,
) -> None:
    """Answer the request with `error` as problem+json (a tiny ASGI app)."""
    del scope, receive
    status, headers, body = problem_response(error, close=close)
    if extra_headers:
        headers.extend(extra_headers.items())
    await send_problem(send, status, headers, body)


def _raised_by_request_json(error: BaseException) -> bool:
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code is Request.json.__code__:
            return True
        traceback = traceback.tb_next
    return False


async def malformed_json_handler(request: Request, exc: Exception) -> Response:
    """A Starlette exception handler: `await request.json()` on a malformed body is the
    client's fault (400 problem+json); any other `JSONDecodeError` stays a server error."""
    del request
    if not _raised_by_request_json(exc):
        raise exc
    status, headers, body = problem_response(MalformedBody(f"the body is not valid JSON: {exc}"))
    return Response(body, status_code=status, headers={k.decode(): v.decode() for k, v in headers})
