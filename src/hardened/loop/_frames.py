"""Stack samples of the loop thread and the blocked event they attribute.

Sampling reads raw (file, line, function) from `sys._current_frames()`: no source lookup, no
I/O, so the watchdog holds the GIL for microseconds. The culprit is the most frequent innermost
*application* frame: the first frame, walking out from the top of the stack, that lies outside
the standard library, site-packages and hardened itself (or inside `app_paths` when given).
"""

from __future__ import annotations

import os
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

    duration: float  # how late the heartbeat ran: the block, minus at most one interval
    ended_at: float  # time.time() when the loop recovered
    ended_monotonic: float
    culprit: Frame | None  # None when no sample was taken (a block just over the threshold)
    culprit_samples: int
    samples: int
    stack: tuple[Frame, ...]  # a sample that named the culprit, innermost frame first

    def to_json(self, root: str = "") -> dict[str, object]:
        return {
            "duration_ms": round(self.duration * 1000, 1),
            "ended_at": self.ended_at,
            "culprit": self.culprit.to_json() if self.culprit else None,
            "culprit_label": self.culprit.label(root) if self.culprit else None,
            "culprit_samples": self.culprit_samples,
            "samples": self.samples,
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
        self._cache: dict[str, bool] = {}

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
        self.samples = 0

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
        self.samples += 1
        culprit = next((raw for raw in stack if self._filter.is_app(raw[0])), stack[0])
        self._counts[culprit] += 1
        if culprit not in self._stacks and len(self._stacks) < 64:
            self._stacks[culprit] = tuple(stack[:STACK_KEPT])

    def event(self, *, duration: float, ended_at: float, ended_monotonic: float) -> BlockedEvent:
        """The blocked event these samples attribute."""
        culprit: Frame | None = None
        count = 0
        stack: tuple[Frame, ...] = ()
        if self._counts:
            raw, count = self._counts.most_common(1)[0]
            culprit = Frame(*raw)
            stack = tuple(Frame(*f) for f in self._stacks.get(raw, ()))
        return BlockedEvent(
            duration=duration,
            ended_at=ended_at,
            ended_monotonic=ended_monotonic,
            culprit=culprit,
            culprit_samples=count,
            samples=self.samples,
            stack=stack,
        )
