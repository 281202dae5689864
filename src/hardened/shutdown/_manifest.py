"""What a Kubernetes manifest declares about shutdown: grace period, preStop sleep, probes.

The shutdown gate reads these instead of trusting a setting that can drift from the deploy
files. Kubernetes' own default (30 s) applies when `terminationGracePeriodSeconds` is absent.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardened.errors import ConfigError
from hardened.shutdown._yaml import YamlError, load_all

__all__ = ["KUBERNETES_DEFAULT_GRACE", "PodShutdownSpec", "read_manifest"]

KUBERNETES_DEFAULT_GRACE = 30.0
_WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


@dataclass(frozen=True, slots=True, kw_only=True)
class PodShutdownSpec:
    """The shutdown-relevant facts of one container in a manifest."""

    path: str
    workload: str  # "Deployment/payments-api"
    container: str
    grace_period: float
    grace_declared: bool  # False: Kubernetes' default applies
    prestop: str | None  # "sleep", "exec sleep", "exec", "httpGet" or None
    prestop_sleep: float  # seconds the preStop hook is known to take (0 if unknown)
    readiness_path: str | None
    liveness_path: str | None
    replicas: int | None = None  # the workload's spec.replicas (the pool gate's fleet check)
    max_surge: int | str | None = None  # its rollingUpdate.maxSurge, as written


def _pod_spec(document: dict[str, Any]) -> dict[str, Any] | None:
    kind = document.get("kind")
    spec = document.get("spec") or {}
    if kind == "Pod":
        return spec if isinstance(spec, dict) else None
    if kind in _WORKLOADS:
        template = (spec.get("template") or {}).get("spec")
        return template if isinstance(template, dict) else None
    return None


def _exec_sleep(command: Any) -> float | None:
    """Seconds slept by `["sleep", "5"]` or `["sh", "-c", "sleep 5"]`; None otherwise."""
    if not isinstance(command, list) or not command:
        return None
    words = [str(word) for word in command]
    if words[0].rsplit("/", 1)[-1] in ("sh", "bash", "ash", "dash") and "-c" in words:
        words = shlex.split(words[words.index("-c") + 1]) if len(words) > 2 else []
    if len(words) == 2 and words[0].rsplit("/", 1)[-1] == "sleep":
        match = re.fullmatch(r"(\d+(?:\.\d+)?)s?", words[1])
        if match:
            return float(match.group(1))
    return None


def _prestop(container: dict[str, Any]) -> tuple[str | None, float]:
    hook = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if "sleep" in hook:
        return "sleep", float((hook["sleep"] or {}).get("seconds", 0))
    if "exec" in hook:
        seconds = _exec_sleep((hook["exec"] or {}).get("command"))
        return ("exec sleep", seconds) if seconds is not None else ("exec", 0.0)
    if "httpGet" in hook:
        return "httpGet", 0.0
    return None, 0.0


def _probe_path(container: dict[str, Any], probe: str) -> str | None:
    path = ((container.get(probe) or {}).get("httpGet") or {}).get("path")
    return str(path) if path is not None else None


def read_manifest(path: str | os.PathLike[str], container: str | None = None) -> PodShutdownSpec:
    """Read the first workload in `path` (and its container named `container`, or the first)."""
    file = Path(path)
    try:
        documents = load_all(file.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read the deploy manifest {file}: {exc}") from exc
    except YamlError as exc:
        raise ConfigError(f"cannot parse the deploy manifest {file}: {exc}") from exc
    for document in documents:
        if not isinstance(document, dict):
            continue
        spec = _pod_spec(document)
        if spec is None:
            continue
        containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
        chosen = next(
            (c for c in containers if container is None or c.get("name") == container), None
        )
        if chosen is None:
            raise ConfigError(f"{file}: no container named {container!r}")
        grace = spec.get("terminationGracePeriodSeconds")
        kind, seconds = _prestop(chosen)
        name = (document.get("metadata") or {}).get("name", "?")
        return PodShutdownSpec(
            path=str(file),
            workload=f"{document['kind']}/{name}",
            container=str(chosen.get("name", "?")),
            grace_period=float(grace) if grace is not None else KUBERNETES_DEFAULT_GRACE,
            grace_declared=grace is not None,
            prestop=kind,
            prestop_sleep=seconds,
            readiness_path=_probe_path(chosen, "readinessProbe"),
            liveness_path=_probe_path(chosen, "livenessProbe"),
            replicas=(document.get("spec") or {}).get("replicas"),
            max_surge=(
                ((document.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
            ).get("maxSurge"),
        )
    raise ConfigError(f"{file}: no Pod or workload with a pod template found")
