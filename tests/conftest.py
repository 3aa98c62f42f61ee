"""Shared fixtures: media generated per test from scikit-image's sample images (no checked-in blobs)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from server.training.footage import load_still


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut portrait at 640x480, BGR."""
    return cv2.resize(load_still("astronaut"), (640, 480), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """scikit-image's coffee cup at 640x480, BGR (a background-like scene)."""
    return cv2.resize(load_still("coffee"), (640, 480), interpolation=cv2.INTER_AREA)
