"""The hostile app under `hardened run`, once per parser: fresh for each test, or shared by the
tests of a module that leave it as they found it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hardened.testing import RunningServer
from tests._servers import healthy
from tests.adversarial._client import PARSERS, serve
from tests.conftest import REPO_ROOT


@pytest.fixture(params=PARSERS)
def server(request: pytest.FixtureRequest, repo_root: Path) -> Iterator[RunningServer]:
    """The hostile app on each parser, started for this test alone."""
    yield from serve(request.param, repo_root)


@pytest.fixture(scope="module", params=PARSERS)
def module_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """The hostile app on each parser, one process per module."""
    yield from serve(request.param, REPO_ROOT)


@pytest.fixture
def shared_server(module_server: RunningServer) -> RunningServer:
    """The module's server, alive and idle: for tests that leave it as they found it."""
    return healthy(module_server)
