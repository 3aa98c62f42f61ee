from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from server.imaging.default_background import studio_background
from server.imaging.degradation import (
    BackgroundProfile, DegradationParams, choose_params, degrade, match_background,
)
from server.imaging.metrics import luma


def true_loss(pristine: np.ndarray, degraded: np.ndarray) -> float:
    return 1.0 - structural_similarity(luma(pristine), luma(degraded), data_range=255)


TARGETS = [0.01, 0.03, 0.06, 0.1, 0.15, 0.22]


@pytest.mark.parametrize("method", ["jpeg", "vp8"])
def test_match_background_hits_targets_monotonically(coffee: np.ndarray, method: str) -> None:
    losses = []
    for target in TARGETS:
        out = match_background(coffee, target, method=method)
        assert out.shape == coffee.shape and out.dtype == np.uint8
        loss = true_loss(coffee, out)
        assert abs(loss - target) <= 0.005, f"{method} target {target}: got {loss:.4f}"
        losses.append(loss)
    assert losses == sorted(losses)


@pytest.mark.parametrize("method", ["webp", "h264", "blur", "downscale"])
def test_every_operator_reaches_a_middle_target(astronaut: np.ndarray, method: str) -> None:
    profile = BackgroundProfile(astronaut, method)
    result = choose_params(profile, 0.08)
    assert abs(true_loss(astronaut, degrade(astronaut, result.params)) - 0.08) <= 0.005


def test_zero_target_returns_the_pristine_image(coffee: np.ndarray) -> None:
    assert np.array_equal(match_background(coffee, 0.0), coffee)


def test_unreachable_target_gives_the_harshest_degradation(astronaut: np.ndarray) -> None:
    out = match_background(astronaut, 1.0, method="jpeg")
    assert true_loss(astronaut, out) > 0.3


def test_unreachable_target_takes_the_mildest_setting_at_the_ceiling() -> None:
    """Under JPEG the studio background's loss peaks near a pre-blur of 16 (about 0.16) and falls
    again at the strongest blur, 24 (about 0.15): an unreachable target gets the peak, not the
    strongest blur (which both loses less and smears more)."""
    studio = cv2.resize(studio_background(), (640, 480), interpolation=cv2.INTER_AREA)
    profile = BackgroundProfile(studio, "jpeg")
    result = choose_params(profile, 0.5)
    harshest = profile.loss(DegradationParams(blur_sigma=24.0, method="jpeg", parameter=result.params.parameter))
    assert result.loss > harshest
    assert result.params.blur_sigma < 24.0
    assert abs(true_loss(studio, degrade(studio, result.params)) - result.loss) < 0.002


def test_degrade_applies_each_operator(astronaut: np.ndarray) -> None:
    assert np.array_equal(degrade(astronaut, DegradationParams()), astronaut)
    for params in (DegradationParams(blur_sigma=2.0), DegradationParams(scale=0.25),
                   DegradationParams(method="jpeg", parameter=10), DegradationParams(method="h264", parameter=40)):
        out = degrade(astronaut, params)
        assert out.shape == astronaut.shape
        assert true_loss(astronaut, out) > 0.02, params


@pytest.mark.parametrize("kwargs, message", [
    ({"blur_sigma": -1.0}, "blur_sigma"),
    ({"scale": 0.0}, "scale"),
    ({"scale": 1.5}, "scale"),
    ({"method": "gif", "parameter": 3}, "unknown compression method"),
    ({"method": "jpeg"}, "needs a parameter"),
])
def test_bad_params_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DegradationParams(**kwargs)


def test_out_of_range_parameter_is_rejected(astronaut: np.ndarray) -> None:
    with pytest.raises(ValueError, match="jpeg parameter must be in 1..100"):
        degrade(astronaut, DegradationParams(method="jpeg", parameter=0))


@pytest.mark.parametrize("target", [-0.1, 1.5, float("nan"), "high", None])
def test_bad_targets_are_rejected(coffee: np.ndarray, target: object) -> None:
    with pytest.raises(ValueError, match="target"):
        match_background(coffee, target)  # type: ignore[arg-type]


def test_bad_images_are_rejected(coffee: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8"):
        match_background(coffee.astype(np.float32), 0.1)
    with pytest.raises(ValueError, match="HxWx3"):
        match_background(coffee[:, :, 0], 0.1)
    with pytest.raises(ValueError, match="empty"):
        match_background(np.zeros((0, 0, 3), np.uint8), 0.1)
    with pytest.raises(ValueError, match="unknown match method"):
        match_background(coffee, 0.1, method="paint")
