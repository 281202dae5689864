"""A `hardened run` server shared by the tests of one module, checked before each test."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request

import pytest

from hardened.testing import RunningServer

__all__ = ["healthy"]

IN_FLIGHT = re.compile(
    r'^hardened_mechanism_state\{field="in_flight",kind="lifecycle",[^}]*\} (\S+)$', re.MULTILINE
)


def _get(url: str) -> tuple[int, str]:
    """Status and body of a GET (an error status is returned, not raised)."""
    try:
        with urllib.request.urlopen(url, timeout=5.0) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def _in_flight(server: RunningServer) -> float:
    status, metrics = _get(f"{server.admin_url}/metrics")
    found = IN_FLIGHT.search(metrics)
    if status != 200 or found is None:
        pytest.fail(f"shared server: /metrics answered {status} without the in-flight gauge")
    return float(found.group(1))


def healthy(server: RunningServer, idle_within: float = 5.0) -> RunningServer:
    """`server` once it runs, answers /readyz 200 and has no request in flight; otherwise the
    test fails at once, with the server's output, instead of failing on its symptoms."""
    code = server.process.poll()
    if code is not None:
        pytest.fail(f"shared server exited with {code} before this test:\n{server.output()}")
    try:
        ready, _ = _get(f"{server.url}/readyz")
    except OSError as error:
        pytest.fail(f"shared server: /readyz failed ({error}):\n{server.output()}")
    if ready != 200:
        pytest.fail(f"shared server: /readyz answered {ready}:\n{server.output()}")
    deadline = time.monotonic() + idle_within
    while (left := _in_flight(server)) > 0:
        if time.monotonic() > deadline:
            pytest.fail(f"shared server: {left:g} request(s) of earlier tests still in flight")
        time.sleep(0.05)
    return server
