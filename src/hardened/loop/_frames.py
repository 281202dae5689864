"""Stack samples of the loop thread and the blocked event they attribute.

Sampling reads raw (file, line, function) from `sys._current_frames()`: no source lookup, no
I/O, so the watchdog holds the GIL for microseconds. A sample whose innermost frame is the
loop's own machinery (asyncio, selectors, this monitor: the loop waiting for I/O) is *idle*; the
culprit is the most frequent innermost *application* frame of the busy samples: the first
frame, walking out from the top of the stack, outside the standard library, site-packages and
hardened itself (or inside `app_paths` when given), and above the loop's own frames (the code
that started the loop is never the culprit of a block).

A late heartbeat that no sample caught in application code, while the loop thread spent most of
the lag waiting for a CPU (Linux run-queue wait from `/proc`; elsewhere: while it used little
CPU), is a *stall*: the thread did not run (CPU throttling or starvation); no code is to blame.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import sys
import sysconfig
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BlockedEvent", "Frame", "FrameFilter", "Sampler"]

RawFrame = tuple[str, int, str]
MAX_DEPTH = 256  # frames walked per sample; ASGI stacks are 30-80 deep
STACK_KEPT = 12  # frames kept (innermost first) to show with the culprit


@dataclass(frozen=True, slots=True)
class Frame:
    """One source location: file, line, function."""

    file: str
    line: int
    function: str

    def label(self, root: str = "") -> str:
        """`path:line function`, the path relative to `root` when under it."""
        path = self.file
        if root and path.startswith(root + os.sep):
            path = path[len(root) + 1 :]
        return f"{path}:{self.line} {self.function}"

    def to_json(self) -> dict[str, str | int]:
        return {"file": self.file, "line": self.line, "function": self.function}


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockedEvent:
    """The loop stopped running callbacks for `duration` seconds; who held it."""

    kind: str  # "blocked": code held the loop; "stall": the loop thread did not run at all
    duration: float  # how late the heartbeat ran: the block, minus at most one interval
    ended_at: float  # time.time() when the loop recovered
    ended_monotonic: float
    culprit: Frame | None  # None when no sample was taken (a block just over the threshold)
    culprit_samples: int
    samples: int  # busy samples (the loop thread inside code, not waiting in the loop)
    stack: tuple[Frame, ...]  # a sample that named the culprit, innermost frame first
    cpu_ratio: float  # the loop thread's CPU time / wall time between the last two beats
    runqueue_wait: float | None  # seconds it waited for a CPU meanwhile (None: unknown)

    def to_json(self, root: str = "") -> dict[str, object]:
        return {
            "kind": self.kind,
            "duration_ms": round(self.duration * 1000, 1),
            "ended_at": self.ended_at,
            "culprit": self.culprit.to_json() if self.culprit else None,
            "culprit_label": self.culprit.label(root) if self.culprit else None,
            "culprit_samples": self.culprit_samples,
            "samples": self.samples,
            "loop_thread_cpu": round(self.cpu_ratio, 2),
            "runqueue_wait_ms": (
                None if self.runqueue_wait is None else round(self.runqueue_wait * 1000, 1)
            ),
            "stack": [frame.label(root) for frame in self.stack],
        }


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots.add(str(Path(__file__).resolve().parent.parent))  # hardened itself
    return tuple(sorted(os.path.realpath(root) for root in roots))


class FrameFilter:
    """Decides which frames are the application's (cached per file name)."""

    def __init__(self, app_paths: Iterable[str] = ()) -> None:
        self._app_roots = tuple(os.path.realpath(path) for path in app_paths)
        self._library = _library_roots()
        loop_machinery = (
            os.path.dirname(asyncio.__file__),
            selectors.__file__,
            os.path.dirname(__file__),  # the monitor's own heartbeat
        )
        self._idle = tuple(os.path.realpath(path) for path in loop_machinery)
        self._cache: dict[str, bool] = {}
        self._idle_cache: dict[str, bool] = {}

    def is_idle(self, filename: str) -> bool:
        """True for the loop's own machinery: an innermost frame there means waiting, not work."""
        known = self._idle_cache.get(filename)
        if known is None:
            known = os.path.realpath(filename).startswith(self._idle)
            if len(self._idle_cache) < 10_000:
                self._idle_cache[filename] = known
        return known

    def is_app(self, filename: str) -> bool:
        """True when `filename` belongs to the application, not to a library."""
        known = self._cache.get(filename)
        if known is not None:
            return known
        if filename.startswith("<"):
            verdict = False  # frozen modules, exec'd strings
        else:
            path = os.path.realpath(filename)
            parts = path.split(os.sep)
            if self._app_roots:
                verdict = path.startswith(self._app_roots)
            else:
                verdict = not (
                    path.startswith(self._library)
                    or "site-packages" in parts
                    or "dist-packages" in parts
                )
        if len(self._cache) < 10_000:
            self._cache[filename] = verdict
        return verdict


class Sampler:
    """Accumulates stack samples of one thread over one block."""

    def __init__(self, thread_id: int, frames: FrameFilter) -> None:
        self._thread_id = thread_id
        self._filter = frames
        self._counts: Counter[RawFrame] = Counter()
        self._stacks: dict[RawFrame, tuple[RawFrame, ...]] = {}
        self.samples = 0  # busy ones
        self.idle_samples = 0
        self.app_samples = 0  # busy ones with an application frame on the stack

    def sample(self) -> None:
        """Take one sample of the thread's current stack."""
        frame = sys._current_frames().get(self._thread_id)
        stack: list[RawFrame] = []
        while frame is not None and len(stack) < MAX_DEPTH:
            code = frame.f_code
            stack.append((code.co_filename, frame.f_lineno or 0, code.co_name))
            frame = frame.f_back
        del frame
        if not stack:
            return
        if self._filter.is_idle(stack[0][0]):
            self.idle_samples += 1
            return
        self.samples += 1
        culprit = self._innermost_app_frame(stack)
        if culprit is None:
            culprit = stack[0]
        else:
            self.app_samples += 1
        self._counts[culprit] += 1
        if culprit not in self._stacks and len(self._stacks) < 64:
            self._stacks[culprit] = tuple(stack[:STACK_KEPT])

    def _innermost_app_frame(self, stack: list[RawFrame]) -> RawFrame | None:
        """The first application frame above the loop's own frames (those below ran the loop)."""
        for raw in stack:
            if self._filter.is_idle(raw[0]):
                return None
            if self._filter.is_app(raw[0]):
                return raw
        return None

    def event(
        self,
        *,
        duration: float,
        ended_at: float,
        ended_monotonic: float,
        cpu_ratio: float,
        runqueue_wait: float | None,
    ) -> BlockedEvent:
        """The event these samples attribute: a block, or a stall when nothing ran."""
        culprit: Frame | None = None
        count = 0
        stack: tuple[Frame, ...] = ()
        if self._counts:
            raw, count = self._counts.most_common(1)[0]
            culprit = Frame(*raw)
            stack = tuple(Frame(*f) for f in self._stacks.get(raw, ()))
        # the thread mostly waited for a CPU (or, that being unknown, barely used one) and no
        # sample caught application code holding the loop
        starved = cpu_ratio < 0.5 if runqueue_wait is None else runqueue_wait >= duration / 2
        stalled = self.app_samples == 0 and starved
        if stalled:  # library frames caught while the thread waited for a CPU blame no one
            culprit, count, stack = None, 0, ()
        return BlockedEvent(
            kind="stall" if stalled else "blocked",
            duration=duration,
            ended_at=ended_at,
            ended_monotonic=ended_monotonic,
            culprit=culprit,
            culprit_samples=count,
            samples=self.samples,
            stack=stack,
            cpu_ratio=cpu_ratio,
            runqueue_wait=runqueue_wait,
        )
