"""Strict mode: a test that blocks the event loop past the threshold fails, naming the culprit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hardened import ConfigError
from hardened.loop import LoopBlocked, strict_loop


def legacy_sdk_call() -> None:
    time.sleep(0.1)


async def test_a_block_past_the_threshold_raises_with_the_culprit() -> None:
    """100 ms of time.sleep under a 50 ms threshold: LoopBlocked naming the function and line."""
    line = legacy_sdk_call.__code__.co_firstlineno + 1

    async def blocking_test_body() -> None:
        async with strict_loop(threshold=0.05):
            await asyncio.sleep(0.05)
            legacy_sdk_call()

    with pytest.raises(LoopBlocked) as caught:
        await blocking_test_body()
    [event] = caught.value.events
    assert event.culprit is not None
    assert (event.culprit.function, event.culprit.line) == ("legacy_sdk_call", line)
    message = str(caught.value)
    assert f"test_loop_strict.py:{line} legacy_sdk_call" in message
    assert "offload" in message


async def test_awaiting_passes_strict_mode() -> None:
    """Awaiting for 200 ms is not blocking: strict mode stays silent."""
    async with strict_loop(threshold=0.15) as monitor:
        await asyncio.sleep(0.2)
    assert monitor.events() == []
    assert monitor.lag_summary()["beats"] >= 5


async def test_the_bodys_own_error_is_not_masked() -> None:
    """When the body raises, that error propagates, not a LoopBlocked."""

    async def failing_test_body() -> None:
        async with strict_loop(threshold=0.05):
            legacy_sdk_call()
            raise KeyError("the real failure")

    with pytest.raises(KeyError):
        await failing_test_body()


async def test_strict_threshold_must_be_positive() -> None:
    """A zero threshold is refused."""
    with pytest.raises(ConfigError):
        async with strict_loop(threshold=0):
            pass


def test_strict_fixture_fails_the_blocking_test_and_passes_the_other(tmp_path: Path) -> None:
    """A suite with the documented autouse fixture: the blocking test fails, the awaiting passes."""
    suite = tmp_path / "test_suite.py"
    source = textwrap.dedent(
        """
            import asyncio
            import time

            import pytest

            from hardened.loop import strict_loop


            @pytest.fixture(autouse=True)
            async def _strict_loop():
                async with strict_loop(threshold=0.05):
                    yield


            async def test_blocks():
                time.sleep(0.15)


            async def test_awaits():
                await asyncio.sleep(0.15)
            """
    )
    suite.write_text(source)
    line = source.splitlines().index("    time.sleep(0.15)") + 1
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            str(suite),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout
    # pytest counts a test whose teardown fails as passed *and* errored
    assert "2 passed, 1 error" in result.stdout
    assert "ERROR at teardown of test_blocks" in result.stdout
    assert "LoopBlocked" in result.stdout
    assert f"test_suite.py:{line} test_blocks" in result.stdout
