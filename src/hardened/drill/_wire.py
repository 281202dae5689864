"""The drills' client side: plain HTTP/1.1 requests and raw sockets, standard library only."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Answer", "KeepAlive", "cut_after", "raw_exchange", "request"]


@dataclass(frozen=True, slots=True)
class Answer:
    """One response: status, lower-cased headers, body and how long it took."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0

    def json(self) -> Any:
        """The body as JSON (None when it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def _split(base_url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"drills speak plain http to a host, not {base_url!r}")
    return parts.hostname, parts.port or 80


def request(
    base_url: str,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    timeout: float = 10.0,
) -> Answer:
    """Send one request on a fresh connection; the answer (raises OSError when none came)."""
    host, port = _split(base_url)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    started = time.monotonic()
    try:
        connection.request(method, path, body=body or None, headers=dict(headers or {}))
        response = connection.getresponse()
        data = response.read()
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, answer_headers, data, time.monotonic() - started)
    finally:
        connection.close()


class KeepAlive:
    """One keep-alive connection, reopened after the server closes it (load, like a real client
    pool: requests queue inside the server, where its shedder can see them)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        host, port = _split(base_url)
        self._connection = http.client.HTTPConnection(host, port, timeout=timeout)

    def request(self, method: str, path: str, headers: Mapping[str, str]) -> Answer:
        """Send one request on the connection; the answer (raises OSError when none came)."""
        started = time.monotonic()
        try:
            self._connection.request(method, path, headers=dict(headers))
            response = self._connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._connection.close()
            raise OSError(str(exc)) from exc
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
        if answer_headers.get("connection", "").lower() == "close":
            self._connection.close()  # the next request reconnects
        return Answer(response.status, answer_headers, data, time.monotonic() - started)

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()


def _parse(raw: bytes, seconds: float) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ")
    if len(status_line) < 2 or not status_line[1].isdigit():
        return Answer(0, {}, raw, seconds)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line[1]), headers, body, seconds)


def raw_exchange(
    base_url: str, head: bytes, chunks: tuple[bytes, ...] = (), *, timeout: float = 10.0
) -> Answer:
    """Write `head` and then `chunks` on one socket, read until the server closes it or a whole
    response framed by Content-Length has arrived (a server keeping the connection alive is
    not waited for).

    A server that answers early and closes may make a later write fail: that is an answer too.
    """
    host, port = _split(base_url)
    started = time.monotonic()
    received = b""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(head)
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # answered and closed before the whole body was sent
        deadline = started + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:
                break
            if not data:
                break
            received += data
            if _whole(received):
                break
    return _parse(received, time.monotonic() - started)


def _whole(raw: bytes) -> bool:
    """Whether `raw` holds a head and all the body its Content-Length announces."""
    head, found, body = raw.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value)
    return False


def cut_after(base_url: str, *, trickle: bool, limit: float, every: float = 0.25) -> float | None:
    """Seconds until the server drops a connection that sends nothing (or one header line
    every `every` s when `trickle`); None when it was still open after `limit` seconds."""
    host, port = _split(base_url)
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=every) as sock:
        if trickle:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: drill\r\n")
        while time.monotonic() - started < limit:
            try:
                if not sock.recv(65536):
                    return time.monotonic() - started
            except TimeoutError:
                if trickle:
                    try:
                        sock.sendall(b"X-Drill-Trickle: 1\r\n")
                    except OSError:
                        return time.monotonic() - started
            except OSError:
                return time.monotonic() - started
    return None
