"""PNG plots of ``backdrop evaluate``: estimate against truth, error by bitrate, achieved against target."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import pyplot, save_figure


def write_evaluation_plots(quality_rows: list[dict], compression_rows: list[dict], directory: Path) -> list[Path]:
    """Write the plots into ``directory``; their paths."""
    plt = pyplot()

    written = []
    figure, axes = plt.subplots(figsize=(7, 6))
    for codec, colour in (("vp8", "tab:blue"), ("h264", "tab:orange")):
        chosen = [r for r in quality_rows if r["codec"] == codec]
        axes.scatter([r["truth"] for r in chosen], [r["estimate"] for r in chosen], s=6, alpha=0.5, c=colour, label=codec)
    top = max([r["truth"] for r in quality_rows] + [r["estimate"] for r in quality_rows] + [0.01])
    axes.plot([0, top], [0, top], "k--", linewidth=0.8)
    axes.set(xlabel="true 1 - SSIM", ylabel="estimated (statistic of the matrix)", title="Quality estimate vs truth",
             xscale="log", yscale="log")
    axes.legend()
    axes.grid(alpha=0.3)
    written.append(save_figure(figure, directory / "quality_scatter.png"))

    figure, axes = plt.subplots(figsize=(8, 5))
    edges = np.geomspace(80_000, 5_000_000, 9)
    for codec, colour in (("vp8", "tab:blue"), ("h264", "tab:orange")):
        chosen = [r for r in quality_rows if r["codec"] == codec]
        rates = np.array([r["bitrate"] for r in chosen])
        errors = np.array([abs(r["estimate"] - r["truth"]) for r in chosen])
        centres, medians = [], []
        for low, high in zip(edges[:-1], edges[1:]):
            mask = (rates >= low) & (rates < high)
            if mask.any():
                centres.append(np.sqrt(low * high))
                medians.append(float(np.median(errors[mask])))
        axes.plot(centres, medians, "o-", color=colour, label=codec)
    axes.set(xscale="log", xlabel="sender bitrate (bit/s)", ylabel="median |estimate - truth|",
             title="Estimation error by bitrate")
    axes.legend()
    axes.grid(alpha=0.3)
    written.append(save_figure(figure, directory / "quality_error_by_bitrate.png"))

    if compression_rows:
        figure, axes = plt.subplots(figsize=(7, 6))
        for method in sorted({r["method"] for r in compression_rows}):
            chosen = [r for r in compression_rows if r["method"] == method]
            axes.scatter([r["target"] for r in chosen], [r["achieved"] for r in chosen], s=8, alpha=0.6, label=method)
        axes.plot([0, 0.16], [0, 0.16], "k--", linewidth=0.8)
        axes.set(xlabel="target 1 - SSIM", ylabel="achieved 1 - SSIM (no search)", title="Compression model")
        axes.legend(fontsize=8)
        axes.grid(alpha=0.3)
        written.append(save_figure(figure, directory / "compression_achieved_vs_target.png"))
    return written

