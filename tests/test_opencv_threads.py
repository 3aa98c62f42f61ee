"""The quality estimate runs its OpenCV calls on the calling thread and gives the caller's setting back."""

from __future__ import annotations

import inspect

import cv2
import numpy as np
import pytest

from server.imaging.opencv_threads import one_opencv_thread
from server.imaging.quality import QualityTracker, estimate_quality


@pytest.fixture
def two_opencv_threads():
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    yield
    cv2.setNumThreads(before)


def test_the_block_runs_on_one_thread_and_restores_the_count_even_after_an_error(two_opencv_threads) -> None:
    with one_opencv_thread():
        assert cv2.getNumThreads() == 1
    assert cv2.getNumThreads() == 2
    with pytest.raises(RuntimeError):
        with one_opencv_thread():
            raise RuntimeError("boom")
    assert cv2.getNumThreads() == 2


def test_estimates_leave_the_callers_thread_count_and_do_not_depend_on_it(two_opencv_threads,
                                                                         astronaut: np.ndarray) -> None:
    frame = cv2.resize(astronaut, (320, 240))
    with_pool = estimate_quality(frame, 4000, True, "vp8")
    assert cv2.getNumThreads() == 2
    tracked = QualityTracker("vp8").update(frame, 4000, True)
    assert cv2.getNumThreads() == 2
    cv2.setNumThreads(1)
    alone = estimate_quality(frame, 4000, True, "vp8")
    assert with_pool.value == alone.value == tracked.value
    np.testing.assert_array_equal(with_pool.matrix, alone.matrix)
    with pytest.raises(ValueError, match="codec"):
        cv2.setNumThreads(2)
        estimate_quality(frame, 4000, True, "av1")
    assert cv2.getNumThreads() == 2


def test_the_wrapped_functions_keep_their_signatures() -> None:
    assert list(inspect.signature(estimate_quality).parameters) == [
        "frame_bgr", "encoded_size", "keyframe", "codec", "statistic", "model", "quantizer", "calibration",
        "person_mask"]
