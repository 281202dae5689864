"""Logging under `hardened run`: one handler for every logger, text or JSON, with request IDs.

A request's ID is the trace id of its W3C `traceparent` header when present, else its
`X-Request-ID`, else a random one; it is worked out only when a record is written during the
request (the access line, the application's own logs), so a request that logs nothing costs one
ContextVar set. The admin listener stays out of the access log by marking its requests quiet,
not by clearing the handlers of uvicorn's process-wide `uvicorn.access` logger (which silenced
the public listener's access log too).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Iterator
from typing import Any, Literal

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "RequestIds",
    "configure_logging",
    "current_request_id",
    "request_logging",
]

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
LOG_FORMATS = ("text", "json")
LogFormat = Literal["text", "json"]

_SCOPE: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "hardened_request_scope", default=None
)
_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("hardened_quiet", default=False)
_TRACEPARENT = re.compile(rb"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_SAFE_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_KEY = "hardened.request_id"


def _request_id(scope: Scope) -> str:
    found = scope.get(_KEY)
    if found is None:
        found = ""
        for name, value in scope.get("headers", ()):
            if name == b"traceparent":
                match = _TRACEPARENT.match(value.strip())
                if match and match.group(1) != b"0" * 32:
                    found = match.group(1).decode()
                    break
            elif name == b"x-request-id" and not found and _SAFE_ID.match(value):
                found = value.decode()
        scope[_KEY] = found = found or secrets.token_hex(16)
    return str(found)


def current_request_id() -> str | None:
    """The ID of the request being served in this context, or None outside a request."""
    scope = _SCOPE.get()
    return None if scope is None else _request_id(scope)


@contextlib.contextmanager
def request_logging(scope: Scope) -> Iterator[None]:
    """Records written inside belong to the request of `scope` (for a server that answers a
    request itself, before any task runs the application)."""
    token = _SCOPE.set(scope)
    try:
        yield
    finally:
        _SCOPE.reset(token)


class RequestIds:
    """ASGI wrapper: makes each HTTP request's scope visible to the log records it causes;
    with `access_log=False` its requests write no access line."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self._quiet = not access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _SCOPE.set(scope)
        quiet = _QUIET.set(True) if self._quiet else None
        try:
            await self.app(scope, receive, send)
        finally:
            _SCOPE.reset(token)
            if quiet is not None:
                _QUIET.reset(quiet)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and _QUIET.get():
            return False
        record.request_id = current_request_id()
        return True


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} request_id={request_id}" if request_id else line


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            document["request_id"] = request_id
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args  # uvicorn's access-line arguments
            document.update(
                client=client, method=method, path=path, http_version=version, status=status
            )
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure_logging(level: str = "info", fmt: LogFormat = "text") -> None:
    """One stderr handler on the root logger; uvicorn's loggers propagate to it."""
    numeric = 5 if level == "trace" else logging.getLevelNamesMapping()[level.upper()]
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(levelname)-8s %(name)s: %(message)s"))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
        logger.setLevel(numeric)
