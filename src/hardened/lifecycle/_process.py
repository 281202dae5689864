"""Process facts for the lifecycle gate: PID 1, init, parent, signal handlers, worker supervisor.

Read from `/proc` and `signal.getsignal` when the gate is checked, never at import. A plain
Python process as PID 1 without a SIGTERM handler ignores SIGTERM (the kernel drops signals
PID 1 does not handle), and `sh -c "..."` as PID 1 does not forward it: both end in SIGKILL.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardened.redact import redact_command

__all__ = ["INIT_NAMES", "SHELL_NAMES", "ProcessFacts", "describe_handler", "inspect_process"]

INIT_NAMES = frozenset(
    {"tini", "dumb-init", "docker-init", "catatonit", "s6-svscan", "runit", "systemd", "init"}
)
SHELL_NAMES = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"})


def _read_proc(pid: int, name: str) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or None


def describe_handler(handler: Any) -> str:
    """A signal handler as the report shows it: default, ignored, or the callable's name."""
    if handler is signal.SIG_DFL:
        return "default"
    if handler is signal.SIG_IGN:
        return "ignored"
    if handler is None:
        return "not installed from Python"
    return str(getattr(handler, "__qualname__", repr(handler)))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessFacts:
    """What the lifecycle gate knows about this process and its place in the container."""

    pid: int
    ppid: int
    parent_name: str | None
    pid1_name: str | None
    pid1_cmdline: str | None
    sigterm_handler: str
    sigint_handler: str
    supervisor: str | None
    kubernetes: bool
    # Secret values replaced in the command lines above (see hardened.redact).
    redacted: int = 0

    @property
    def is_pid1(self) -> bool:
        """This process is PID 1 of its PID namespace."""
        return self.pid == 1

    @property
    def handles_sigterm(self) -> bool:
        """A Python-level SIGTERM handler is installed."""
        return self.sigterm_handler not in ("default", "ignored", "not installed from Python")

    @property
    def init_is_pid1(self) -> bool:
        """A known init (tini, dumb-init, docker-init, ...) is PID 1 instead of this process."""
        return not self.is_pid1 and self.pid1_name in INIT_NAMES

    @property
    def shell_is_pid1_parent(self) -> bool:
        """Our parent is a shell running as PID 1: it will not forward SIGTERM to us."""
        return self.ppid == 1 and self.pid1_name in SHELL_NAMES

    def to_json(self) -> dict[str, Any]:
        """The `signals` part of the gate's evidence."""
        return {
            "pid": self.pid,
            "is_pid1": self.is_pid1,
            "pid1": "self" if self.is_pid1 else self.pid1_name,
            "pid1_cmdline": None if self.is_pid1 else self.pid1_cmdline,
            "init_is_pid1": self.init_is_pid1,
            "parent": {
                "pid": self.ppid,
                "name": self.parent_name if self.ppid else "(outside this PID namespace)",
            },
            "sigterm_handler": self.sigterm_handler,
            "sigint_handler": self.sigint_handler,
            "cmdline_values_redacted": self.redacted,
        }


def _supervisor(ppid: int, parent_cmdline: str | None) -> str | None:
    cmdline = parent_cmdline or ""
    if "gunicorn" in cmdline:
        return "gunicorn"
    forked = multiprocessing.parent_process() is not None
    if "--workers" in cmdline or (forked and "uvicorn" in cmdline):
        return f"multi-worker parent (pid {ppid}): {cmdline[:120]}"
    return None


def inspect_process(
    getsignal: Callable[[int], Any] = signal.getsignal,
    environ: dict[str, str] | None = None,
) -> ProcessFacts:
    """Read the facts now (from `/proc`, the signal table and the environment)."""
    env = os.environ if environ is None else environ
    pid, ppid = os.getpid(), os.getppid()
    parent_cmdline, parent_redacted = _redacted(_read_proc(ppid, "cmdline") if ppid else None)
    pid1_cmdline, pid1_redacted = _redacted(_read_proc(1, "cmdline"))
    return ProcessFacts(
        pid=pid,
        ppid=ppid,
        parent_name=_read_proc(ppid, "comm") if ppid else None,
        pid1_name=_read_proc(1, "comm"),
        pid1_cmdline=pid1_cmdline,
        sigterm_handler=describe_handler(getsignal(signal.SIGTERM)),
        sigint_handler=describe_handler(getsignal(signal.SIGINT)),
        supervisor=_supervisor(ppid, parent_cmdline),
        kubernetes="KUBERNETES_SERVICE_HOST" in env,
        redacted=parent_redacted + pid1_redacted,
    )


def _redacted(cmdline: str | None) -> tuple[str | None, int]:
    """A command line with its secrets replaced (they would otherwise reach `/gates`)."""
    return (None, 0) if cmdline is None else redact_command(cmdline)
