from __future__ import annotations

import numpy as np

from server.imaging.background_variants import LEVEL_STEP, LevelSelector, VariantCache, level_for, level_target
from server.imaging.metrics import ssim_loss


def test_hovering_estimate_keeps_one_level() -> None:
    selector = LevelSelector()
    boundary = 4.5 * LEVEL_STEP
    levels = {selector.update(boundary + delta) for delta in (0.001, -0.001, 0.002, -0.002) * 10}
    assert len(levels) == 1


def test_real_change_switches_level() -> None:
    selector = LevelSelector()
    assert selector.update(0.02) == 2
    assert selector.update(0.08) == 8
    assert selector.update(0.079) == 8


def test_levels_round_trip() -> None:
    for level in (0, 1, 7, 30):
        assert level_for(level_target(level)) == level


def test_cache_returns_matched_variants_and_reuses_them(coffee: np.ndarray) -> None:
    cache = VariantCache()
    first = cache.variant("coffee", coffee, "jpeg", 6)
    assert abs(ssim_loss(coffee, first.image) - 0.06) <= 0.005
    assert cache.variant("coffee", coffee, "jpeg", 6) is first
    assert np.array_equal(cache.variant("coffee", coffee, "jpeg", 0).image, coffee)
    cache.forget("coffee")
    assert cache.variant("coffee", coffee, "jpeg", 6) is not first
