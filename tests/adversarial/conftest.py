"""The hostile app under `hardened run`, once per parser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hardened.testing import RunningServer
from tests.adversarial._client import PARSERS, serve


@pytest.fixture(params=PARSERS)
def server(request: pytest.FixtureRequest, repo_root: Path) -> Iterator[RunningServer]:
    """The hostile app on each parser."""
    yield from serve(request.param, repo_root)
