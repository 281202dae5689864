"""Closed-loop load with wrk (preferred) or hey (both Debian packages), and their output parsed."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

__all__ = [
    "INSTALL_HINT",
    "LoadResult",
    "find_tool",
    "missing_tool_message",
    "parse_duration",
    "parse_hey",
    "parse_wrk",
    "run_load",
]

TOOLS = ("wrk", "hey")
INSTALL_HINT = "apt-get install -y wrk hey"

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadResult:
    """What one closed-loop run achieved, as the load tool reported it."""

    tool: str
    requests: int
    seconds: float
    non_2xx: int = 0
    errors: int = 0
    latency_s: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def parse_duration(text: str) -> float:
    """'405.00us' / '1.05ms' / '2.10s' / '1.00m' → seconds."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*(us|ms|s|m|h)\s*", text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> LoadResult:
    """Parse `wrk --latency` output."""
    total = re.search(r"^\s*(\d+) requests in ([0-9.]+\w+),", output, re.MULTILINE)
    if total is None:
        raise ValueError(f"no request count in wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    latency = {
        f"p{pct}": parse_duration(value)
        for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+([0-9.]+\w+)\s*$", output, re.MULTILINE)
    }
    return LoadResult(
        tool="wrk",
        requests=int(total.group(1)),
        seconds=parse_duration(total.group(2)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        latency_s=latency,
    )


def parse_hey(output: str) -> LoadResult:
    """Parse hey's default summary output."""
    total = re.search(r"Total:\s*([0-9.]+) secs", output)
    if total is None:
        raise ValueError(f"no total time in hey output:\n{output}")
    statuses = [(int(c), int(n)) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", output)]
    errors_block = output.split("Error distribution:", 1)
    errors = 0
    if len(errors_block) == 2:
        errors = sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]", errors_block[1], re.MULTILINE))
    latency = {
        f"p{pct}": float(value)
        for pct, value in re.findall(r"^\s+(50|75|90|99)% in ([0-9.]+) secs", output, re.MULTILINE)
    }
    return LoadResult(
        tool="hey",
        requests=sum(n for _, n in statuses),
        seconds=float(total.group(1)),
        non_2xx=sum(n for code, n in statuses if not 200 <= code < 400),
        errors=errors,
        latency_s=latency,
    )


def find_tool(preferred: str | None = None) -> str | None:
    """The first load tool found on PATH (`preferred` first), or None."""
    order = (preferred, *TOOLS) if preferred else TOOLS
    for tool in order:
        if tool and shutil.which(tool):
            return tool
    return None


def missing_tool_message() -> str:
    """The plain sentence printed when neither tool is installed."""
    return (
        "neither wrk nor hey is installed, so the closed-loop comparisons cannot run; "
        f"install them with: {INSTALL_HINT}"
    )


def run_load(
    tool: str, url: str, *, seconds: float, connections: int, timeout_s: float = 5.0
) -> LoadResult:
    """Drive `url` for `seconds` with `connections` keep-alive connections (one client thread)."""
    duration = max(1, round(seconds))
    if tool == "wrk":
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
        argv += [f"--timeout={max(1, round(timeout_s))}s", url]
        parse = parse_wrk
    elif tool == "hey":
        argv = ["hey", "-z", f"{duration}s", "-c", str(connections), "-cpus", "1"]
        argv += ["-t", str(max(1, round(timeout_s))), url]
        parse = parse_hey
    else:
        raise ValueError(f"unknown load tool {tool!r}; expected one of {TOOLS}")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse(done.stdout)
