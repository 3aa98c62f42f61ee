"""The matching rule of shared scenes: the weakest seat is untouched, the others move to its loss."""

from __future__ import annotations

import numpy as np
import pytest

from server.imaging.metrics import ssim_loss
from server.imaging.scene_layout import Box, scene_target
from server.imaging.scene_matching import (
    CutOutMatcher, SeatCutOut, SmoothedLoss, compose_scene, extra_loss, seat_extras,
)
from server.training.encoding import EncoderSetup, encode_decode
from server.training.footage import Motion, render_still_clip


def test_extra_loss_brings_each_seat_to_the_target() -> None:
    losses = [0.02, 0.09, 0.05]
    target = scene_target(losses)  # min quality: the largest loss
    assert target == 0.09
    assert [extra_loss(own, target) for own in losses] == pytest.approx([0.07, 0.0, 0.04])
    assert extra_loss(0.12, target) == 0.0  # beyond the target (e.g. a median target): left alone


def test_seat_extras_match_every_seat_to_the_statistic_of_the_losses() -> None:
    target, extras = seat_extras({"a": 0.02, "b": 0.09, "c": 0.05})
    assert target == 0.09 and extras == pytest.approx({"a": 0.07, "b": 0.0, "c": 0.04})
    target, extras = seat_extras({"a": 0.02, "b": 0.09, "c": 0.05}, "median")
    assert target == 0.05 and extras == pytest.approx({"a": 0.03, "b": 0.0, "c": 0.0})
    with pytest.raises(ValueError, match="at least one seat"):
        seat_extras({})


def test_a_seats_averaged_loss_follows_the_stream_not_each_frame() -> None:
    """A loss that swings every other frame (as within a group of pictures) averages out, a lasting
    change is followed in full once the window has passed, and a clock going back starts again."""
    smoothed = SmoothedLoss(seconds=1.0)
    assert smoothed.value is None
    assert smoothed.update(0.08, 10.0) == 0.08  # the first loss is taken as it is
    values = [smoothed.update(0.06 if frame % 2 else 0.10, 10.0 + frame / 30) for frame in range(1, 91)]
    assert max(values[30:]) - min(values[30:]) < 0.003  # the frames swing by 0.04
    assert values[-1] == pytest.approx(0.08, abs=0.002)
    for frame in range(91, 121):  # the network got worse: 0.12 from now on
        value = smoothed.update(0.12, 10.0 + frame / 30)
        if frame < 120:
            assert value < 0.12  # older frames still count
    assert value == pytest.approx(0.12)  # a second later only the new level counts
    assert smoothed.update(0.05, 20.0) == pytest.approx(0.05)  # after a silence: only the new frame
    assert smoothed.update(0.07, 20.5) == pytest.approx(0.06)
    assert smoothed.update(0.02, 5.0) == 0.02  # the clock went back: start again
    for bad in (-0.01, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="loss must be"):
            smoothed.update(bad, 30.0)
    with pytest.raises(ValueError, match="seconds"):
        SmoothedLoss(seconds=0.0)


def test_the_weakest_seat_passes_untouched_and_the_others_reach_its_loss(astronaut: np.ndarray) -> None:
    """Three seats of the same footage at 150 kbps, 600 kbps and 2 Mbps: after matching, the better two
    are degraded by the difference of the true losses, and the weakest keeps its exact pixels."""
    motion = Motion(crop=0.9, pan_x=0.002, pan_y=0.0, zoom=0.0, noise=1.0, flip=False, gain=1.0, bias=0.0)
    clip = render_still_clip(astronaut, 320, 240, 8, motion, np.random.default_rng(5))
    seats = {rate: encode_decode(clip, EncoderSetup("vp8", rate, "-6"))[-1].image for rate in (150_000, 600_000, 2_000_000)}
    losses = {rate: ssim_loss(clip[-1], image) for rate, image in seats.items()}
    target = scene_target(list(losses.values()))
    assert target == losses[150_000]
    spread_before = max(losses.values()) - min(losses.values())
    matched_losses = {}
    for rate, image in seats.items():
        matcher = CutOutMatcher("jpeg")
        result = matcher.match(image, extra_loss(losses[rate], target))
        if rate == 150_000:
            assert result.level == 0 and result.image is image  # untouched
        else:
            assert result.level > 0 and abs(result.added_loss - extra_loss(losses[rate], target)) <= 0.01
        matched_losses[rate] = ssim_loss(clip[-1], result.image)
    spread_after = max(matched_losses.values()) - min(matched_losses.values())
    assert spread_after < spread_before / 3, (losses, matched_losses)


def test_levels_have_hysteresis_and_the_profile_follows_the_picture(astronaut: np.ndarray) -> None:
    matcher = CutOutMatcher("jpeg", refresh_frames=3)
    image = astronaut[:240, :320].copy()
    first = matcher.match(image, 0.05)
    assert first.level == 5
    assert matcher.match(image, 0.0535).level == 5  # within the band's margin: no switch
    assert matcher.match(image, 0.07).level == 7
    with pytest.raises(ValueError):
        matcher.match(image, -0.1)
    with pytest.raises(ValueError):
        CutOutMatcher("oil-paint")


def test_compose_scene_blends_cut_outs_by_alpha() -> None:
    from server.imaging.yuv import bgr_to_i420, planes

    background = bgr_to_i420(np.full((100, 200, 3), 50, np.uint8))
    person = bgr_to_i420(np.full((40, 60, 3), 200, np.uint8))
    alpha = np.zeros((40, 60), np.uint8)
    alpha[:, 30:] = 255
    scene = compose_scene(background, 200, 100, [SeatCutOut(Box(10, 60, 60, 40), person, alpha),
                                                 SeatCutOut(Box(140, 60, 60, 40),
                                                            person, np.full((40, 60), 255, np.uint8))])
    luma = planes(scene, 200, 100)[0]
    person_y, background_y = planes(person, 60, 40)[0][0, 0], planes(background, 200, 100)[0][0, 0]
    assert (luma[60:100, 10:40] == background_y).all()  # alpha 0: background
    assert (luma[60:100, 40:70] == person_y).all()  # alpha 255: the person
    assert (luma[60:100, 140:200] == person_y).all()
    assert (luma[:60] == background_y).all()
    assert (planes(background, 200, 100)[0] == background_y).all()  # the input is not modified
    with pytest.raises(ValueError, match="outside"):
        compose_scene(background, 200, 100, [SeatCutOut(Box(150, 60, 60, 40), person, alpha)])
    with pytest.raises(ValueError, match="alpha"):
        SeatCutOut(Box(0, 0, 60, 40), person, alpha[:, :10])
