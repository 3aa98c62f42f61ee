"""Shared fixtures: media generated per test from scikit-image's sample images (no checked-in blobs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from server.training.footage import load_still
from tests.server_harness import ServerThread


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut portrait at 640x480, BGR."""
    return cv2.resize(load_still("astronaut"), (640, 480), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """scikit-image's coffee cup at 640x480, BGR (a background-like scene)."""
    return cv2.resize(load_still("coffee"), (640, 480), interpolation=cv2.INTER_AREA)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerThread]]:
    """``start_server(**settings)``: a real server on loopback with its own data directory under the
    test's ``tmp_path``, started now and stopped when the test ends (however it ends)."""
    started: list[ServerThread] = []

    def start(**settings: object) -> ServerThread:
        server = ServerThread(tmp_path / f"server-{len(started)}", **settings)
        started.append(server)
        return server.start()
    yield start
    for server in started:
        server.stop()
