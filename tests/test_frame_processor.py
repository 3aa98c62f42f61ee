from __future__ import annotations

import numpy as np
import pytest

from server.imaging.default_background import studio_background
from server.pipeline.frame_processor import ProcessorSettings, StreamProcessor
from server.training.encoding import EncoderSetup, encode_decode
from server.training.footage import Motion, render_still_clip


def test_low_bitrate_stream_gets_a_more_degraded_background(astronaut: np.ndarray) -> None:
    motion = Motion(crop=0.9, pan_x=0.002, pan_y=0.0, zoom=0.001, noise=1.0, flip=False, gain=1.0, bias=0.0)
    clip = render_still_clip(astronaut, 640, 480, 10, motion, np.random.default_rng(2))
    losses = {}
    for rate in (120_000, 3_000_000):
        processor = StreamProcessor("studio", studio_background(), "vp8", ProcessorSettings(method="jpeg"))
        try:
            for index, frame in enumerate(encode_decode(clip, EncoderSetup("vp8", rate, "-6"))):
                result = processor.process(frame.image, frame.size, frame.keyframe, index * 33)
        finally:
            processor.close()
        assert result.image.shape == astronaut.shape
        losses[rate] = result.background_loss
    assert losses[120_000] > losses[3_000_000]


def test_unknown_method_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown degradation method"):
        StreamProcessor("studio", studio_background(), "vp8", ProcessorSettings(method="oil-paint"))


def test_a_late_frame_can_reuse_the_previous_mask(astronaut: np.ndarray, coffee: np.ndarray) -> None:
    from server.imaging.yuv import bgr_to_i420

    processor = StreamProcessor("studio", studio_background(), "vp8")
    try:
        first = processor.process_i420(bgr_to_i420(astronaut), 640, 480, 20_000, True, 0, reuse_mask=True)
        assert not first.mask_reused  # nothing to reuse yet: segmented
        # The next frame, late: composited with the first frame's mask, no segmentation.
        reused = processor.process_i420(bgr_to_i420(coffee), 640, 480, 3_000, False, 33, reuse_mask=True)
        assert reused.mask_reused and reused.mask is first.mask
        assert reused.timings_ms["segment"] < 1.0
        fresh = processor.process_i420(bgr_to_i420(coffee), 640, 480, 3_000, False, 66)
        assert not fresh.mask_reused and fresh.mask is not first.mask and fresh.timings_ms["segment"] > 1.0
        smaller = processor.process_i420(bgr_to_i420(coffee[:240, :320].copy()), 320, 240, 3_000, False, 99,
                                         reuse_mask=True)
        assert not smaller.mask_reused and smaller.mask.shape == (240, 320)  # another size: segmented
    finally:
        processor.close()


def test_a_late_frame_can_reuse_the_previous_estimate_but_never_on_a_keyframe(astronaut: np.ndarray,
                                                                             coffee: np.ndarray) -> None:
    from server.imaging.yuv import bgr_to_i420

    processor = StreamProcessor("studio", studio_background(), "vp8")
    try:
        first = processor.process_i420(bgr_to_i420(astronaut), 640, 480, 20_000, True, 0, reuse_estimate=True)
        assert not first.estimate_reused  # nothing to reuse yet: scored
        reused = processor.process_i420(bgr_to_i420(coffee), 640, 480, 300, False, 33, reuse_estimate=True)
        assert reused.estimate_reused and reused.quality is first.quality
        scored = processor.process_i420(bgr_to_i420(coffee), 640, 480, 300, False, 66)
        assert not scored.estimate_reused and scored.quality.value != first.quality.value
        keyframe = processor.process_i420(bgr_to_i420(coffee), 640, 480, 30_000, True, 99, reuse_estimate=True)
        assert not keyframe.estimate_reused and keyframe.quality.keyframe
        smaller = processor.process_i420(bgr_to_i420(coffee[:240, :320].copy()), 320, 240, 3_000, False, 132,
                                         reuse_estimate=True)
        assert not smaller.estimate_reused and smaller.quality.matrix.shape == (15, 20)  # another size: scored
    finally:
        processor.close()
