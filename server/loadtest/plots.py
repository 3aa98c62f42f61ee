"""PNG plots of a load test summary: latency CDF, delivered fps over time, CPU over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import pyplot, save_figure


def write_plots(summary: dict, directory: Path) -> list[Path]:
    """Write the three plots into ``directory``; their paths."""
    plt = pyplot()

    directory.mkdir(parents=True, exist_ok=True)
    written = []

    figure, axes = plt.subplots(figsize=(8, 5))
    for label, values in sorted(summary["latencies_ms"].items()):
        if values:
            ordered = np.sort(values)
            axes.plot(ordered, np.arange(1, len(ordered) + 1) / len(ordered), label=label, linewidth=1)
    axes.set(xlabel="glass-to-glass latency (ms)", ylabel="fraction of frames", title="Latency CDF per stream")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    written.append(save_figure(figure, directory / "latency_cdf.png"))

    figure, axes = plt.subplots(figsize=(8, 5))
    for label, per_second in sorted(summary["timeline"]["fps"].items()):
        seconds = sorted(int(s) for s in per_second)
        axes.plot(seconds, [per_second[s] if s in per_second else per_second[str(s)] for s in seconds],
                  label=label, linewidth=1)
    axes.set(xlabel="time (s)", ylabel="frames received per second", title="Delivered fps per stream")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    written.append(save_figure(figure, directory / "fps_over_time.png"))

    figure, axes = plt.subplots(figsize=(8, 5))
    samples = summary["timeline"]["samples"]
    times = [s["t"] for s in samples]
    axes.plot(times, [s["server_cpu"] if s["server_cpu"] is not None else np.nan for s in samples], label="server")
    axes.plot(times, [s["generator_cpu"] for s in samples], label="load generator")
    axes.set(xlabel="time (s)", ylabel="CPU (% of one core)", title="CPU over time")
    axes.grid(alpha=0.3)
    axes.legend()
    written.append(save_figure(figure, directory / "server_cpu.png"))
    return written

