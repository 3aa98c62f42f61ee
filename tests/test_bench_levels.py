"""``scripts/bench_levels.py``: its figures on a known sequence, and a short real clip end to end."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.script_modules import load_script


def _bench_script():
    return load_script("bench_levels")


def test_figures_of_a_swinging_estimate() -> None:
    bench = _bench_script()
    swinging = [0.05 + 0.015 * np.sin(2 * np.pi * i / 50) for i in range(600)]  # 20 s at 30 fps
    timed, alone = bench.selector_figures(swinging, timed=True), bench.selector_figures(swinging, timed=False)
    assert alone["switches_per_minute"] > 3 * timed["switches_per_minute"] > 0
    assert timed["shortest_showing_s"] >= 1.5  # the hold: no change here is of three levels
    assert alone["mean_gap"] < timed["mean_gap"] < 0.02


def test_a_steady_estimate_never_switches() -> None:
    figures = _bench_script().selector_figures([0.031] * 90, timed=True)
    assert figures["switches_per_minute"] == 0 and figures["shortest_showing_s"] == 3.0
    assert figures["mean_gap"] == pytest.approx(0.001, abs=1e-9)


def test_tracked_estimates_of_a_short_ramp(astronaut: np.ndarray) -> None:
    bench = _bench_script()
    picture = cv2.resize(astronaut, (320, 240), interpolation=cv2.INTER_AREA)
    estimates = bench.tracked_estimates(picture, [100_000, 1_000_000], seconds=1.0)
    assert len(estimates) == 60
    low, high = np.mean(estimates[10:30]), np.mean(estimates[40:60])
    assert low > high > 0  # the starved segment is estimated worse than the rich one
    alone = bench.tracked_estimates(picture, [100_000, 1_000_000], seconds=1.0, with_quantizer=False)
    assert len(alone) == 60 and alone != estimates  # fed the quantizers, as the worker does, by default
    assert np.mean(alone[10:30]) > np.mean(alone[40:60]) > 0
