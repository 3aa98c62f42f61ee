"""The server's I420 path gives the same answers as the BGR contracts."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from server.imaging.background_variants import LEVEL_STEP
from server.imaging.default_background import studio_background
from server.imaging.chroma import chroma_features, chroma_features_i420
from server.imaging.features import CHROMA_FEATURES
from server.imaging.quality import estimate_quality, estimate_quality_i420
from server.imaging.yuv import blend_i420, bgr_to_i420, gray_from_i420, require_i420, small_bgr_from_i420
from server.pipeline.frame_processor import ProcessorSettings, StreamProcessor
from server.training.encoding import EncoderSetup, encode_decode

REL_PATHS = 0.3
"""How far the I420 path's quality estimate may stray from the BGR path's (relative)."""


@pytest.fixture(scope="module")
def decoded(astronaut: np.ndarray):
    import av

    frame = encode_decode([astronaut] * 3, EncoderSetup("vp8", 400_000, "-6"))[-1]
    # What the server holds: the decoder's I420, and what a BGR user would get from it.
    i420 = bgr_to_i420(frame.image)
    bgr = av.VideoFrame.from_ndarray(i420, format="yuv420p").to_ndarray(format="bgr24")
    return frame, i420, bgr


def test_luma_matches_the_grey_of_the_decoded_frame(decoded) -> None:
    _, i420, bgr = decoded
    difference = np.abs(gray_from_i420(i420, 640, 480).astype(int) - cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    assert difference.mean() < 1.0


def test_quality_from_i420_matches_bgr(decoded) -> None:
    frame, i420, bgr = decoded
    a = estimate_quality(bgr, frame.size, frame.keyframe, "vp8").value
    b = estimate_quality_i420(i420, 640, 480, frame.size, frame.keyframe, "vp8").value
    # The BGR path's grey carries chroma rounding (+-1 where Y is flat), so the step and noise
    # statistics differ a little. On this picture (VP8 and H.264 at 0.1-1.5 Mbps) the I420 estimate
    # is 0.99-1.41 times the BGR one: inside the estimator's own error (a log residual of 0.3-0.6).
    assert b == pytest.approx(a, rel=REL_PATHS)  # this I420 is rounded twice from BGR


def test_chroma_features_from_the_decoder_planes_match_those_of_its_bgr_frame(decoded) -> None:
    # The I420 path reads the decoder's own U and V; the BGR path reads OpenCV's I420 of the BGR
    # frame PyAV made of them (chroma upsampled, then sampled again). Over 144 decoded frames (three
    # stills, 320x240 and 640x480, VP8 and H.264 at 0.1 and 2 Mbps) the two differed by at most
    # 0.011 (90th percentile) in the step shares, 0.023 in log_var8 and blockiness4, 0.016 in
    # flat4_share and 0.08 in log_noise.
    _, i420, bgr = decoded
    tolerance = {"log_var8": 0.07, "zero_step_share": 0.035, "small_step_share": 0.035, "log_noise": 0.25,
                 "blockiness4": 0.07, "flat4_share": 0.05}
    difference = chroma_features(bgr) - chroma_features_i420(i420, 640, 480)
    for name, value in zip(CHROMA_FEATURES, difference):
        assert abs(value) <= tolerance[name.split("_", 1)[1]], (name, value)


def test_blend_selects_planes(astronaut: np.ndarray, coffee: np.ndarray) -> None:
    mask = np.zeros((480, 640), np.float32)
    mask[:, :320] = 1.0
    out = cv2.cvtColor(blend_i420(bgr_to_i420(astronaut), bgr_to_i420(coffee), mask, 640, 480), cv2.COLOR_YUV2BGR_I420)
    assert np.abs(out[:, :300].astype(int) - astronaut[:, :300]).mean() < 3
    assert np.abs(out[:, 340:].astype(int) - coffee[:, 340:]).mean() < 3


def test_processing_i420_matches_processing_bgr(decoded) -> None:
    frame, i420, bgr = decoded
    settings = ProcessorSettings(method="jpeg")
    results = []
    for use_i420 in (False, True):
        processor = StreamProcessor("studio", studio_background(), "vp8", settings)
        try:
            if use_i420:
                out = processor.process_i420(i420, 640, 480, frame.size, frame.keyframe, 0)
                results.append((cv2.cvtColor(out.image, cv2.COLOR_YUV2BGR_I420), out))
            else:
                out = processor.process(bgr, frame.size, frame.keyframe, 0)
                results.append((out.image, out))
        finally:
            processor.close()
    (bgr_image, bgr_result), (yuv_image, yuv_result) = results
    assert yuv_result.quality.value == pytest.approx(bgr_result.quality.value, rel=REL_PATHS)
    difference = np.abs(bgr_image.astype(int) - yuv_image).mean(axis=2)
    if yuv_result.level == bgr_result.level:
        assert difference.mean() < 4
    else:
        # Estimates REL_PATHS apart can straddle level boundaries (LEVEL_STEP each): the levels differ by
        # no more than the estimates do, the backgrounds by that much, and the person must still match.
        gap = abs(yuv_result.quality.value - bgr_result.quality.value)
        assert 1 <= abs(yuv_result.level - bgr_result.level) <= math.ceil(gap / LEVEL_STEP) + 1
        person = (bgr_result.mask > 0.5) & (yuv_result.mask > 0.5)
        assert person.mean() > 0.1
        assert difference[person].mean() < 4


@pytest.mark.parametrize("shape, width, height, message", [
    ((700, 640), 640, 480, "does not fit"),
    ((10, 9), 9, 6, "even sizes"),
])
def test_bad_i420_is_rejected(shape, width, height, message) -> None:
    with pytest.raises(ValueError, match=message):
        require_i420(np.zeros(shape, np.uint8), width, height)


def test_small_bgr_has_the_working_size(decoded) -> None:
    _, i420, _ = decoded
    assert small_bgr_from_i420(i420, 640, 480, (320, 240)).shape == (240, 320, 3)
    assert small_bgr_from_i420(i420, 640, 480, (256, 192)).shape == (192, 256, 3)


def test_resize_i420_matches_resizing_the_picture(astronaut: np.ndarray) -> None:
    import cv2

    from server.imaging.yuv import bgr_to_i420, resize_i420

    small = resize_i420(bgr_to_i420(astronaut), 640, 480, (360, 270))
    assert small.shape == (405, 360)
    expected = cv2.resize(astronaut, (360, 270), interpolation=cv2.INTER_AREA)
    seen = cv2.cvtColor(small, cv2.COLOR_YUV2BGR_I420)
    assert np.abs(seen.astype(float) - expected).mean() < 4.0
    with pytest.raises(ValueError, match="even"):
        resize_i420(bgr_to_i420(astronaut), 640, 480, (361, 270))
