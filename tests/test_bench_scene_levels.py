"""``scripts/bench_scene_levels.py``: the scene's rule replayed on known estimates, and one real seat."""

from __future__ import annotations

import numpy as np

from tests.script_modules import load_script


def _bench():
    return load_script("bench_scene_levels")


def _swinging(mean: float, swing: float, frames: int = 180) -> np.ndarray:
    """A loop of estimates that dips after each keyframe, as a seat's do within a group of pictures."""
    phase = np.arange(frames) % 30
    return mean + swing * np.where(phase < 8, -1.0, 8 / 22)


def test_averaging_holds_the_seats_levels_where_the_latest_frames_move_them() -> None:
    bench = _bench()
    traces = [_swinging(0.09, 0.02), _swinging(0.045, 0.012), _swinging(0.027, 0.006)]
    offsets = [0, 7, 13]
    latest = bench.replay(traces, 0.0, 60.0, offsets)
    averaged = bench.replay(traces, 2.0, 60.0, offsets)
    settled = int(bench.SETTLE_S * bench.FPS)

    def changes(levels: list[int]) -> int:
        return int(np.count_nonzero(np.diff(levels[settled:])))

    assert all(level == 0 for level in latest[0] + averaged[0])  # the weakest seat is never degraded
    assert changes(latest[1]) + changes(latest[2]) > 10
    assert changes(averaged[1]) == changes(averaged[2]) == 0
    assert set(averaged[1][settled:]) == {round((0.09 - 0.045) / 0.01)}  # the averages' difference


def test_the_best_seat_follows_a_step_of_the_weakest() -> None:
    bench = _bench()
    traces = [np.full(180, 0.09), np.full(180, 0.045), np.full(180, 0.027)]
    fast, slow = bench.settle_time(traces, 0.0, 1.6), bench.settle_time(traces, 2.0, 1.6)
    assert 0.0 < fast < slow < 15.0


def test_a_real_seats_estimates_loop_once() -> None:
    bench = _bench()
    footage = [np.full((480, 640, 3), value, np.uint8) for value in (90, 100, 110)] * 20
    footage = [noisy(frame, seed) for seed, frame in enumerate(footage)]
    estimates = bench.seat_estimates(150_000, footage)
    assert len(estimates) == len(footage)
    assert np.all(np.isfinite(estimates)) and estimates.min() >= 0.0


def noisy(frame: np.ndarray, seed: int) -> np.ndarray:
    """``frame`` with a little camera noise (flat frames compress to nothing)."""
    noise = np.random.default_rng(seed).normal(0.0, 6.0, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)
