from __future__ import annotations

import numpy as np
import pytest

from server.imaging.compositing import composite, fit_background


def test_mask_selects_person_or_background(astronaut: np.ndarray, coffee: np.ndarray) -> None:
    mask = np.zeros(astronaut.shape[:2], np.float32)
    mask[:, :320] = 1.0
    out = composite(astronaut, coffee, mask)
    assert np.array_equal(out[:, :320], astronaut[:, :320])
    assert np.array_equal(out[:, 320:], coffee[:, 320:])
    half = composite(astronaut, coffee, np.full(astronaut.shape[:2], 0.5, np.float32))
    expected = (astronaut.astype(np.float32) + coffee) / 2
    assert np.abs(half - expected).max() <= 1.0


def test_uint8_masks_are_accepted(astronaut: np.ndarray, coffee: np.ndarray) -> None:
    mask = np.full(astronaut.shape[:2], 255, np.uint8)
    assert np.array_equal(composite(astronaut, coffee, mask), astronaut)


def test_bad_inputs_are_rejected(astronaut: np.ndarray, coffee: np.ndarray) -> None:
    mask = np.ones(astronaut.shape[:2], np.float32)
    with pytest.raises(ValueError, match="does not match"):
        composite(astronaut, coffee, mask[:10])
    with pytest.raises(ValueError, match="background is"):
        composite(astronaut, coffee[:100], mask)
    with pytest.raises(ValueError, match="uint8"):
        composite(astronaut.astype(np.float64), coffee, mask)
    with pytest.raises(ValueError, match="HxWx3"):
        composite(astronaut[:, :, :2], coffee, mask)
    with pytest.raises(ValueError, match="float"):
        composite(astronaut, coffee, mask.astype(np.int32))


def test_fit_background_covers_without_distortion(coffee: np.ndarray) -> None:
    out = fit_background(coffee, 320, 320)
    assert out.shape == (320, 320, 3)
    wide = fit_background(coffee, 1280, 360)
    assert wide.shape == (360, 1280, 3)
