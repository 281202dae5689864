"""The overload run as a picture: goodput, admitted p99, timeouts and rejections per second."""

from __future__ import annotations

from pathlib import Path

__all__ = ["plot_overload"]

PANELS = (
    ("ok", 1.0, "goodput (2xx/s)"),
    ("p99_s", 1e3, "admitted p99 (ms)"),
    ("timeouts", 1.0, "client timeouts /s"),
    ("rejected", 1.0, "rejections (503/429) /s"),
)


def plot_overload(
    timelines: dict[str, list[dict[str, float]]], path: Path, *, title: str, capacity: float
) -> Path:
    """Write a PNG of per-second figures per variant to `path`, capacity marked on goodput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(PANELS), 1, figsize=(9, 10), sharex=True)
    for axis, (key, scale, ylabel) in zip(axes, PANELS, strict=True):
        for label, rows in timelines.items():
            axis.plot(
                [r["t"] for r in rows], [r[key] * scale for r in rows], marker="o", label=label
            )
        axis.set_ylabel(ylabel)
        axis.grid(visible=True, alpha=0.3)
        axis.set_ylim(bottom=0, top=max(1.0, axis.get_ylim()[1]))
    axes[0].axhline(capacity, color="grey", linestyle="--", label=f"capacity {capacity:.0f} rps")
    axes[0].set_ylim(bottom=0, top=max(1.2 * capacity, axes[0].get_ylim()[1]))
    axes[0].set_title(title)
    axes[0].legend(fontsize="small")
    axes[-1].set_xlabel("second of the run")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
