from __future__ import annotations

import numpy as np

from server.imaging.background_variants import LEVEL_STEP, LevelSelector, VariantCache, level_for, level_target
from server.imaging.metrics import ssim_loss
from server.pipeline.variant_maker import VariantMaker


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


def test_pristine_level_needs_no_search(coffee: np.ndarray) -> None:
    cache = VariantCache(model=None)
    pristine = cache.variant("coffee", coffee, "vp8", 0)
    assert pristine.level == 0 and pristine.match.loss == 0.0 and cache.searched == 0
    assert np.array_equal(pristine.image, coffee)


def test_nearest_made_level(coffee: np.ndarray) -> None:
    cache = VariantCache()
    height, width = coffee.shape[:2]
    assert cache.nearest("coffee", width, height, "jpeg", 5) is None
    for level in (2, 8):
        cache.variant("coffee", coffee, "jpeg", level)
    assert cache.nearest("coffee", width, height, "jpeg", 4).level == 2
    assert cache.nearest("coffee", width, height, "jpeg", 5).level == 2  # a tie goes to the lower level
    assert cache.nearest("coffee", width, height, "jpeg", 7).level == 8
    assert cache.nearest("coffee", width, height, "webp", 7) is None  # another method
    assert cache.peek("coffee", width, height, "jpeg", 8).level == 8
    assert cache.peek("coffee", width, height, "jpeg", 7) is None


def test_maker_shows_nearest_level_until_the_wanted_one_is_made(coffee: np.ndarray) -> None:
    maker = VariantMaker(VariantCache(model=None))  # the search: slow enough to be seen pending
    try:
        first = maker.variant("coffee", coffee, "jpeg", 6)
        assert first.level == 0 and np.array_equal(first.image, coffee)  # nothing else made yet
        assert maker.wait_idle(timeout=30)
        made = maker.variant("coffee", coffee, "jpeg", 6)
        assert made.level == 6 and abs(ssim_loss(coffee, made.image) - 0.06) <= 0.005
        assert maker.variant("coffee", coffee, "jpeg", 9).level == 6  # nearest while 9 is made
        assert maker.wait_idle(timeout=30)
        assert maker.variant("coffee", coffee, "jpeg", 9).level == 9
        assert maker.cache.searched == 2  # each level made once
    finally:
        maker.close()


def test_maker_keeps_serving_when_a_level_cannot_be_made(coffee: np.ndarray) -> None:
    class Broken(VariantCache):
        attempts = 0

        def _predict(self, *args: object) -> None:
            Broken.attempts += 1
            raise RuntimeError("codec failed")

    maker = VariantMaker(Broken())
    try:
        assert maker.variant("coffee", coffee, "jpeg", 6).level == 0
        assert maker.wait_idle(timeout=30)
        assert maker.variant("coffee", coffee, "jpeg", 6).level == 0
        assert maker.wait_idle(timeout=30)
        assert Broken.attempts == 1  # not retried on every frame
        assert maker.variant("coffee", coffee, "jpeg", 3).level == 0  # other levels are still tried
        assert maker.wait_idle(timeout=30) and Broken.attempts == 2
    finally:
        maker.close()


def test_levels_beyond_reach_reuse_the_harshest_setting() -> None:
    flat = np.full((96, 128, 3), 120, np.uint8)  # nothing to lose: every level is out of reach
    flat[:, 64:] = 130
    cache = VariantCache(model=None)
    first = cache.variant("flat", flat, "jpeg", 20)
    assert first.match.loss < level_target(20) - LEVEL_STEP / 2 and cache.searched == 1
    again = cache.variant("flat", flat, "jpeg", 30)
    assert cache.searched == 1  # known to be out of reach: no second search
    assert again.level == 30 and again.match.params == first.match.params and again.image is first.image
    assert cache.variant("flat", flat, "jpeg", 1).match.loss <= first.match.loss  # lower levels still searched
    assert cache.searched == 2
