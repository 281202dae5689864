"""The overload run as a picture: goodput, admitted p99 and timeouts per second, per variant."""

from __future__ import annotations

from pathlib import Path

__all__ = ["plot_overload"]


def plot_overload(timelines: dict[str, list[dict[str, float]]], path: Path, *, title: str) -> Path:
    """Write a three-panel PNG of per-second figures to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    for label, rows in timelines.items():
        t = [r["t"] for r in rows]
        top.plot(t, [r["ok"] for r in rows], marker="o", label=label)
        middle.plot(t, [r["p99_s"] * 1e3 for r in rows], marker="o", label=label)
        bottom.plot(t, [r["timeouts"] for r in rows], marker="o", label=label)
    top.set_ylabel("goodput (2xx/s)")
    middle.set_ylabel("admitted p99 (ms)")
    bottom.set_ylabel("client timeouts /s")
    bottom.set_xlabel("second of the run")
    top.set_title(title)
    top.legend(fontsize="small")
    for axis in (top, middle, bottom):
        axis.grid(visible=True, alpha=0.3)
        axis.set_ylim(bottom=0)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
