from __future__ import annotations

import numpy as np
import pytest

from server.imaging.segmentation import PersonSegmenter


def test_mask_contract_and_person_found(astronaut: np.ndarray) -> None:
    with PersonSegmenter() as segmenter:
        mask = segmenter.segment(astronaut, 0)
    assert mask.dtype == np.float32 and mask.shape == astronaut.shape[:2]
    assert 0.0 <= float(mask.min()) and float(mask.max()) <= 1.0
    # The astronaut's face and chest are person; the top corners (flag, shuttle) are not.
    assert mask[150:300, 250:400].mean() > 0.8
    assert mask[:60, :60].mean() < 0.2 and mask[:60, -60:].mean() < 0.2


def test_still_person_mask_does_not_flicker(astronaut: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    changes = []
    with PersonSegmenter() as segmenter:
        previous = None
        for index in range(20):
            noisy = np.clip(astronaut + rng.normal(0, 3, astronaut.shape), 0, 255).astype(np.uint8)
            mask = segmenter.segment(noisy, index * 33)
            if previous is not None and index > 3:
                changes.append(float(np.abs(mask - previous).mean()))
            previous = mask
    assert max(changes) < 0.005, changes


def test_edges_are_feathered_not_hard(astronaut: np.ndarray) -> None:
    with PersonSegmenter() as segmenter:
        mask = segmenter.segment(astronaut, 0)
    partial = float(((mask > 0.05) & (mask < 0.95)).mean())
    assert 0.0 < partial < 0.1  # a soft but narrow edge band


def test_resolution_change_is_handled(astronaut: np.ndarray) -> None:
    with PersonSegmenter() as segmenter:
        segmenter.segment(astronaut, 0)
        small = segmenter.segment(np.ascontiguousarray(astronaut[::2, ::2]), 33)
    assert small.shape == (240, 320)


def test_timestamps_must_increase(astronaut: np.ndarray) -> None:
    with PersonSegmenter() as segmenter:
        segmenter.segment(astronaut, 100)
        with pytest.raises(ValueError, match="timestamps must increase"):
            segmenter.segment(astronaut, 100)


def test_closed_segmenter_refuses_work(astronaut: np.ndarray) -> None:
    segmenter = PersonSegmenter()
    segmenter.close()
    with pytest.raises(ValueError, match="closed"):
        segmenter.segment(astronaut, 0)


def test_bad_frames_are_rejected() -> None:
    with PersonSegmenter() as segmenter:
        with pytest.raises(ValueError, match="uint8"):
            segmenter.segment(np.zeros((480, 640, 3), np.float32), 0)
        with pytest.raises(ValueError, match="HxWx3"):
            segmenter.segment(np.zeros((480, 640), np.uint8), 1)


def test_missing_model_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="model not found"):
        PersonSegmenter(tmp_path / "nope.tflite")
