"""How ``backdrop evaluate`` states the uncertainty of its pooled figure: whole clips are drawn again."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from server.training.quality_evaluation import clip_bootstrap_interval


def test_a_perfect_ranking_has_no_spread() -> None:
    truth = np.linspace(0.001, 0.2, 60)
    clips = [f"c{i // 6}" for i in range(60)]
    assert clip_bootstrap_interval(truth * 3 + 0.01, truth, clips, resamples=200) == (1.0, 1.0)


def test_the_interval_holds_the_figure_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    truth = rng.uniform(0.001, 0.2, 400)
    estimate = truth + rng.normal(0, 0.05, 400)
    clips = [f"c{i // 20}" for i in range(400)]
    low, high = clip_bootstrap_interval(estimate, truth, clips, resamples=300, seed=3)
    assert low < spearmanr(estimate, truth).statistic < high
    assert (low, high) == clip_bootstrap_interval(estimate, truth, clips, resamples=300, seed=3)


def test_clips_not_frames_are_the_unit_drawn_again() -> None:
    """Twelve clips of forty identical frames hold twelve observations, not 480: drawing frames
    again would give a far narrower interval than drawing clips."""
    rng = np.random.default_rng(2)
    per_clip_truth = rng.uniform(0.001, 0.2, 12)
    per_clip_estimate = per_clip_truth + rng.normal(0, 0.05, 12)
    truth, estimate = np.repeat(per_clip_truth, 40), np.repeat(per_clip_estimate, 40)
    by_clip = clip_bootstrap_interval(estimate, truth, [f"c{i // 40}" for i in range(480)], resamples=300)
    by_frame = clip_bootstrap_interval(estimate, truth, [f"f{i}" for i in range(480)], resamples=300)
    assert by_clip[1] - by_clip[0] > 3 * (by_frame[1] - by_frame[0])
