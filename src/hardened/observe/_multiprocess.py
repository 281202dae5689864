"""prometheus-client multiprocess mode: detection, dead-process files, and their cleanup.

With ``PROMETHEUS_MULTIPROC_DIR`` set, each worker writes its samples to ``*_<pid>.db`` files
that a scrape merges. Known traps, reported by the observe gate: files of dead workers pile up
(``mark_process_dead`` only removes live-gauge files), custom collectors (mechanism state, SLO
burn rates, process and GC metrics) are not merged across processes, and exemplars are dropped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

__all__ = ["multiprocess_dir", "multiprocess_evidence", "sweep_dead_processes"]

_DB_FILE = re.compile(r"_(\d+)\.db$")


def multiprocess_dir() -> Path | None:
    """The multiprocess directory in force (read now, never at import), or None."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _files_by_pid(directory: Path) -> dict[int, list[Path]]:
    found: dict[int, list[Path]] = {}
    for path in directory.glob("*.db"):
        match = _DB_FILE.search(path.name)
        if match:
            found.setdefault(int(match.group(1)), []).append(path)
    return found


def multiprocess_evidence() -> dict[str, Any]:
    """Whether multiprocess mode is on and how many files belong to dead processes."""
    directory = multiprocess_dir()
    if directory is None:
        return {"mode": "single-process"}
    if not directory.is_dir():
        return {"mode": "multiprocess", "directory": str(directory), "exists": False}
    by_pid = _files_by_pid(directory)
    dead = sorted(pid for pid in by_pid if not _alive(pid))
    return {
        "mode": "multiprocess",
        "directory": str(directory),
        "db_files": sum(len(paths) for paths in by_pid.values()),
        "dead_pids": dead[:20],
        "dead_pid_files": sum(len(by_pid[pid]) for pid in dead),
    }


def sweep_dead_processes(directory: Path | None = None) -> list[int]:
    """Mark every dead worker's pid dead (removes its live-gauge files); the pids swept.

    Counter and histogram files of dead workers are kept on purpose: deleting them would make
    the merged counters go backwards (a false reset). Recycle workers rarely, or restart the
    pod, to bound them.
    """
    from prometheus_client import multiprocess

    directory = directory or multiprocess_dir()
    if directory is None or not directory.is_dir():
        return []
    dead = [pid for pid in _files_by_pid(directory) if not _alive(pid)]
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    return dead
