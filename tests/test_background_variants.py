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


def test_estimate_swinging_with_the_content_switches_rarely() -> None:
    # A pan's estimate swings 1.5 levels either way over 1.7 s, seen at 30 fps for 20 s.
    def swings(selector: LevelSelector, timed: bool) -> int:
        levels = [selector.update(0.05 + 0.015 * np.sin(2 * np.pi * i / 50), i / 30 if timed else None)
                  for i in range(600)]
        return sum(1 for a, b in zip(levels, levels[1:]) if a != b)

    assert swings(LevelSelector(), timed=False) >= 40  # the band-and-margin rule alone follows every swing
    assert swings(LevelSelector(), timed=True) <= 20 / LevelSelector().hold_s


def test_a_one_frame_spike_changes_nothing() -> None:
    selector = LevelSelector()
    levels = [selector.update(0.09 if i == 40 else 0.03, i / 30) for i in range(90)]
    assert set(levels) == {3}


def test_a_large_jump_is_followed_at_once_after_confirmation() -> None:
    selector = LevelSelector()
    assert selector.update(0.02, 0.0) == 2
    followed = next(i for i in range(1, 60) if selector.update(0.08, 0.1 + i / 30) == 8)
    assert (followed - 1) / 30 <= selector.confirm_s + 1 / 30  # no hold for a jump of six levels


def test_a_small_lasting_change_waits_for_the_hold() -> None:
    selector = LevelSelector()
    assert selector.update(0.04, 0.0) == 4
    times = [i / 30 for i in range(1, 120)]
    switched = next(t for t in times if selector.update(0.052, t) == 5)
    assert selector.hold_s <= switched <= selector.hold_s + 2 / 30


def test_a_stream_clock_going_back_does_not_freeze_the_level() -> None:
    selector = LevelSelector()
    assert selector.update(0.02, 500.0) == 2
    levels = [selector.update(0.08, i / 30) for i in range(30)]  # the stream restarted at 0
    assert levels[-1] == 8


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
