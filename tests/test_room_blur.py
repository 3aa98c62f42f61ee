""""Blur my room": the participant's own room, blurred without a halo of the person, in the pipeline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from server.imaging.default_background import studio_background
from server.imaging.room_blur import BLURRED_ROOM_KEY, blurred_room_bgr, blurred_room_i420
from server.imaging.yuv import bgr_to_i420
from server.pipeline.frame_processor import StreamProcessor
from server.storage.catalog import BackgroundCatalog


def room_with_a_person(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy green room and a magenta disc standing for the person, with the disc's mask."""
    rng = np.random.default_rng(seed)
    frame = np.clip(np.full((480, 640, 3), (40, 160, 40), np.float32) + rng.normal(0, 30, (480, 640, 3)),
                    0, 255).astype(np.uint8)
    mask = np.zeros((480, 640), np.float32)
    cv2.circle(mask, (320, 300), 120, 1.0, -1)
    frame[mask > 0] = (200, 20, 200)
    return frame, mask


def ring_around(mask: np.ndarray, width: int = 41) -> np.ndarray:
    return (cv2.dilate((mask > 0).astype(np.uint8), np.ones((width, width), np.uint8)) > 0) & (mask == 0)


def test_the_room_is_blurred_without_a_halo_of_the_person() -> None:
    frame, mask = room_with_a_person()
    room = frame[mask == 0].astype(float)
    blurred = blurred_room_bgr(frame, mask)
    ring = ring_around(mask)
    # Right around the person the blurred room keeps the room's colour; a plain blur of the frame would
    # show the person's magenta there (its ring is off by about 40 levels per channel).
    assert np.abs(blurred[ring].mean(0) - room.mean(0)).max() < 3
    plain = cv2.GaussianBlur(frame, (0, 0), 20)
    assert np.abs(plain[ring].mean(0) - room.mean(0)).max() > 20
    # Blurred: the room's grain is gone.
    assert blurred[mask == 0].std(0).max() < 0.1 * room.std(0).min()
    # The I420 path blurs the same way (compared in luma).
    i420 = blurred_room_i420(bgr_to_i420(frame), 640, 480, mask)
    luma = cv2.cvtColor(blurred, cv2.COLOR_BGR2YUV_I420)[:480]
    assert np.abs(i420[:480].astype(float) - luma).mean() < 2


def test_bad_input_is_refused() -> None:
    frame, mask = room_with_a_person()
    with pytest.raises(ValueError, match="does not match"):
        blurred_room_bgr(frame, mask[:240])
    with pytest.raises(ValueError, match="I420 array shape"):
        blurred_room_i420(bgr_to_i420(frame), 320, 240, mask)


def test_blur_my_room_is_a_background_choice_composited_from_the_frame(coffee: np.ndarray,
                                                                        astronaut: np.ndarray) -> None:
    catalog = BackgroundCatalog()
    assert catalog.has(BLURRED_ROOM_KEY)
    assert [b.name for b in catalog.list() if b.id == BLURRED_ROOM_KEY] == ["Blur my room"]
    processor = StreamProcessor(BLURRED_ROOM_KEY, catalog.image(BLURRED_ROOM_KEY), "vp8")
    try:
        for index in range(3):
            result = processor.process_i420(bgr_to_i420(astronaut), 640, 480, 20_000, index == 0, index * 33)
        assert result.level == 0 and result.background_loss == 0.0 and result.params.method is None
        shown = cv2.cvtColor(result.image, cv2.COLOR_YUV2BGR_I420).astype(float)
        room = result.mask < 0.05
        own_room = blurred_room_bgr(astronaut, result.mask).astype(float)
        virtual = catalog.image(catalog.default_key)
        virtual = cv2.resize(virtual, (640, 480), interpolation=cv2.INTER_AREA).astype(float)
        to_own = np.abs(shown[room] - own_room[room]).mean()
        assert to_own < 4 and to_own < 0.2 * np.abs(shown[room] - virtual[room]).mean()
        # Switching to an image replaces the room again.
        processor.set_background("builtin:studio", studio_background())
        replaced = processor.process_i420(bgr_to_i420(astronaut), 640, 480, 20_000, False, 99)
        shown = cv2.cvtColor(replaced.image, cv2.COLOR_YUV2BGR_I420).astype(float)
        assert np.abs(shown[room] - own_room[room]).mean() > 5 * to_own
    finally:
        processor.close()
