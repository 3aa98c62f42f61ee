"""Estimate a decoded frame's quality: the predicted local loss (1 - SSIM of the luma against the
unseen original) per 16x16 block, reduced to one value by a statistic.

Inputs are what a receiver has: the decoded pixels, the frame's encoded size and keyframe flag, and
the codec; optionally the frame's quantizer from its bitstream, which corrects the estimate's level
(``quantizer_calibration``). ``estimate_quality`` scores one frame; ``QualityTracker`` follows a
stream (running inter-frame bitrate, temporal smoothing) for the server. The statistics, over the
whole frame or over the person only: ``quality_statistics``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from .chroma import chroma_features, chroma_features_i420
from .features import BLOCK, CODECS, block_columns, block_features, frame_features, frame_luma_u8
from .opencv_threads import on_one_opencv_thread
from .quality_model import DEFAULT_MODEL_PATH, QualityModel, scaled_to_mean
from .quality_statistics import STATISTICS, check_statistic, over_person, person_blocks, reduce_matrix
from .quantizer_calibration import QuantizerCalibration, load_calibration
from .validation import require_bgr_image, require_choice
from .yuv import gray_from_i420, require_i420



__all__ = ["QualityEstimate", "QualityTracker", "STATISTICS", "check_statistic", "estimate_quality",
           "estimate_quality_i420", "load_model", "reduce_matrix"]


@dataclass(frozen=True)
class QualityEstimate:
    """A frame's estimated quality."""

    value: float
    """The statistic of ``matrix``: estimated 1 - SSIM (0 = perfect)."""
    matrix: np.ndarray
    """Predicted loss per 16x16 luma block, shape (height // 16, width // 16)."""
    statistic: str
    bpp: float
    """Bits per pixel of the encoded frame."""
    keyframe: bool
    codec: str


@functools.lru_cache(maxsize=4)
def load_model(path: str = str(DEFAULT_MODEL_PATH)) -> QualityModel:
    """The quality model at ``path``, read once per process."""
    return QualityModel.load(path)


@on_one_opencv_thread
def estimate_quality(frame_bgr: np.ndarray, encoded_size: int, keyframe: bool, codec: str = "vp8",
                     statistic: str = "mean", model: QualityModel | None = None, quantizer: float | None = None,
                     calibration: QuantizerCalibration | None = None,
                     person_mask: np.ndarray | None = None) -> QualityEstimate:
    """Estimate the quality of one decoded frame from its pixels and its encoded size.

    With the frame's ``quantizer`` (VP8: its base quantizer index; H.264: its mean QP; see
    ``quantizer``), the estimate is corrected by the quantizer calibration (``calibration``, else the
    shipped one). A statistic over the person (``person-mean``...) needs ``person_mask``, the
    segmenter's mask of this frame (float, height x width, 0..1); the others ignore it."""
    luma, chroma = _planes_bgr(frame_bgr, encoded_size, codec, statistic)
    height, width = frame_bgr.shape[:2]
    person = _person(person_mask, statistic, width, height)
    return _estimate(luma, chroma, width, height, encoded_size, keyframe, codec, statistic, model, quantizer,
                     calibration, person)


def _planes_bgr(frame_bgr: np.ndarray, encoded_size: int, codec: str,
                statistic: str) -> tuple[np.ndarray, np.ndarray]:
    """What the estimate reads of the checked BGR frame: its luma plane, cropped to whole blocks, and
    its chroma features."""
    require_bgr_image(frame_bgr, "frame")
    height, width = frame_bgr.shape[:2]
    _check_arguments(encoded_size, codec, statistic, width, height)
    return frame_luma_u8(frame_bgr), chroma_features(frame_bgr)


def _planes_i420(i420: np.ndarray, width: int, height: int, encoded_size: int, codec: str,
                 statistic: str) -> tuple[np.ndarray, np.ndarray]:
    """``_planes_bgr`` for a checked I420 frame, read from its own planes."""
    require_i420(i420, width, height)
    _check_arguments(encoded_size, codec, statistic, width, height)
    gray = gray_from_i420(i420, width, height)
    return gray[: (height // BLOCK) * BLOCK, : (width // BLOCK) * BLOCK], chroma_features_i420(i420, width, height)


@on_one_opencv_thread
def estimate_quality_i420(i420: np.ndarray, width: int, height: int, encoded_size: int, keyframe: bool,
                          codec: str = "vp8", statistic: str = "mean",
                          model: QualityModel | None = None, quantizer: float | None = None,
                          calibration: QuantizerCalibration | None = None,
                          person_mask: np.ndarray | None = None) -> QualityEstimate:
    """``estimate_quality`` for a decoded I420 frame (the server's path: no conversion to BGR)."""
    luma, chroma = _planes_i420(i420, width, height, encoded_size, codec, statistic)
    person = _person(person_mask, statistic, width, height)
    return _estimate(luma, chroma, width, height, encoded_size, keyframe, codec, statistic, model, quantizer,
                     calibration, person)


def _check_arguments(encoded_size: object, codec: object, statistic: object, width: int, height: int) -> None:
    check_statistic(statistic)
    require_choice(codec, CODECS, "codec")
    if isinstance(encoded_size, bool) or not isinstance(encoded_size, (int, np.integer)) or encoded_size < 0:
        raise ValueError(f"encoded_size must be a whole number of bytes >= 0, got {encoded_size!r}")
    if height < BLOCK or width < BLOCK:
        raise ValueError(f"frame must be at least {BLOCK}x{BLOCK}, got {width}x{height}")


def _person(person_mask: np.ndarray | None, statistic: str, width: int, height: int) -> np.ndarray | None:
    """The blocks the person covers, for a statistic over the person (None for the others); a
    missing or misshapen mask is a ValueError."""
    if not over_person(statistic):
        return None
    if not isinstance(person_mask, np.ndarray) or person_mask.shape != (height, width):
        shape = person_mask.shape if isinstance(person_mask, np.ndarray) else None
        raise ValueError(f"statistic {statistic!r} reduces the blocks the person covers: it needs the person's "
                         f"mask of the frame, shape ({height}, {width}), got {shape}")
    return person_blocks(person_mask, (height // BLOCK, width // BLOCK))


def _check_quantizer(quantizer: object) -> None:
    if quantizer is None:
        return
    if isinstance(quantizer, bool) or not isinstance(quantizer, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(quantizer)) or quantizer < 0:
        raise ValueError(f"quantizer must be a finite number >= 0 (VP8 index or H.264 QP) or None, got {quantizer!r}")


def _estimate(luma: np.ndarray, chroma: np.ndarray, width: int, height: int, encoded_size: int, keyframe: bool,
              codec: str, statistic: str, model: QualityModel | None, quantizer: float | None = None,
              calibration: QuantizerCalibration | None = None, person: np.ndarray | None = None) -> QualityEstimate:
    _check_quantizer(quantizer)
    model = model or load_model()
    blocks = block_features(luma)
    columns = block_columns(blocks)  # read by the frame features and the frame head's summary
    frame = frame_features(blocks, int(encoded_size), bool(keyframe), codec, width, height, columns)
    matrix = model.estimate(blocks, frame, chroma, columns)
    if quantizer is not None:
        matrix = (calibration or load_calibration()).calibrate_matrix(
            matrix, float(quantizer), codec, int(encoded_size), bool(keyframe), width, height)
    return QualityEstimate(value=reduce_matrix(matrix, statistic, person), matrix=matrix, statistic=statistic,
                           bpp=8.0 * encoded_size / (width * height), keyframe=bool(keyframe), codec=codec)


class QualityTracker:
    """Per-stream quality: what the server uses. Each frame is scored by ``estimate_quality``; the
    tracker then carries what one frame cannot know.

    - A block whose decoded pixels did not change since the previous frame (mean absolute luma
      step <= ``unchanged_luma`` grey levels: a skipped or static block) keeps its tracked loss. Its
      quality is that of the picture it was copied from, which a small inter frame says nothing
      about. On held-out clips with a fixed camera this lifts the Spearman correlation from 0.923 to
      0.949, and on frozen pictures from 0.907 to 0.942 (``backdrop evaluate``, tracker line).
    - Other blocks are smoothed exponentially (``smoothing``) towards the frame's estimate; a frame
      whose quantizer is known is smoothed with ``quantizer_smoothing`` instead (by default 1: not
      at all). The estimate corrected by the quantizer needs no smoothing: fed the quantizers, the
      tracker ranked real footage at 0.943 with it and at 0.933 with 0.3
      (``server/training/QUALITY_RECORD.md``, section 9).
    - The kept blocks set the frame's level only as far as the picture stood still: the tracked
      matrix is scaled so that its mean is u**``unchanged_level_exponent`` parts its own mean and
      the rest the mean of every block smoothed towards the frame's estimate, u being the share of
      unchanged blocks. A frozen picture keeps its loss; where much of it moved, the frame's own
      estimate (which the frame head and the quantizer calibration fit to the whole frame's loss)
      sets the level, and the kept blocks only where the loss lies. With the exponent 2, real
      footage ranks at 0.950 fed the quantizers (0.943 when the kept blocks always set the level,
      exponent 0) and at 0.906 without them (0.901), frozen stills at 0.962 and 0.959 either way
      (``QUALITY_RECORD.md``, section 10).
    - A keyframe (or a change of size) is a fresh picture: the tracker takes its estimate as is.

    The running inter-frame bits per pixel is kept as a figure for the server's stats. (Scoring
    inter frames with the running average size instead of their own was measured worse: Spearman
    0.74 against 0.84.)
    """

    def __init__(self, codec: str = "vp8", statistic: str = "mean", smoothing: float = 0.3,
                 bitrate_window: int = 15, model: QualityModel | None = None,
                 unchanged_luma: float = 0.5, calibration: QuantizerCalibration | None = None,
                 quantizer_smoothing: float = 1.0, unchanged_level_exponent: float = 2.0) -> None:
        require_choice(codec, CODECS, "codec")
        check_statistic(statistic)
        for name, value in (("smoothing", smoothing), ("quantizer_smoothing", quantizer_smoothing)):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        for name, value in (("unchanged_luma", unchanged_luma), ("unchanged_level_exponent", unchanged_level_exponent)):
            if not 0.0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        self.codec, self.statistic, self.smoothing = codec, statistic, smoothing
        self.quantizer_smoothing = quantizer_smoothing
        self.unchanged_luma, self.unchanged_level_exponent = unchanged_luma, unchanged_level_exponent
        self._alpha_rate = 2.0 / (bitrate_window + 1)
        self._model, self._calibration = model, calibration
        self._inter_size: float | None = None
        self._tracked: tuple[np.ndarray, np.ndarray] | None = None
        """The tracked loss matrix and the luma plane of the frame it was last updated with."""
        self.latest: QualityEstimate | None = None
        self.frame_estimate: QualityEstimate | None = None
        """The last scored frame's own estimate (what ``estimate_quality`` gives it), before tracking."""

    @property
    def running_inter_bpp(self) -> float | None:
        """Running average of inter-frame bits per pixel, once a frame has been seen."""
        if self._inter_size is None or self.latest is None:
            return None
        shape = self.latest.matrix.shape
        return 8.0 * self._inter_size / (shape[0] * shape[1] * BLOCK * BLOCK)

    @on_one_opencv_thread
    def update(self, frame_bgr: np.ndarray, encoded_size: int, keyframe: bool,
               quantizer: float | None = None, person_mask: np.ndarray | None = None) -> QualityEstimate:
        """Score the next frame of the stream and return the tracked estimate (``quantizer``: the
        frame's, when the receiver read it; ``person_mask``: the frame's, needed by a statistic over
        the person; see ``estimate_quality``)."""
        luma, chroma = _planes_bgr(frame_bgr, encoded_size, self.codec, self.statistic)
        height, width = frame_bgr.shape[:2]
        person = _person(person_mask, self.statistic, width, height)
        return self._follow(luma, chroma, width, height, encoded_size, keyframe, quantizer, person)

    @on_one_opencv_thread
    def update_i420(self, i420: np.ndarray, width: int, height: int, encoded_size: int,
                    keyframe: bool, quantizer: float | None = None,
                    person_mask: np.ndarray | None = None) -> QualityEstimate:
        """``update`` for a decoded I420 frame."""
        luma, chroma = _planes_i420(i420, width, height, encoded_size, self.codec, self.statistic)
        person = _person(person_mask, self.statistic, width, height)
        return self._follow(luma, chroma, width, height, encoded_size, keyframe, quantizer, person)

    def repeat(self, encoded_size: int, keyframe: bool) -> QualityEstimate | None:
        """Account the next frame's size without scoring its pixels, and return the latest estimate
        (load shedding); None if there is none yet or the frame is a keyframe (always scored)."""
        if keyframe or self.latest is None:
            return None
        size = int(encoded_size)
        if size > 0 and self._inter_size is not None:
            self._inter_size += self._alpha_rate * (size - self._inter_size)
        return self.latest

    def _follow(self, luma: np.ndarray, chroma: np.ndarray, width: int, height: int, encoded_size: int,
                keyframe: bool, quantizer: float | None = None, person: np.ndarray | None = None) -> QualityEstimate:
        raw = _estimate(luma, chroma, width, height, encoded_size, keyframe, self.codec, self.statistic, self._model,
                        quantizer, self._calibration, person)
        self.frame_estimate = raw
        size = int(encoded_size)
        if not keyframe and size > 0:
            self._inter_size = size if self._inter_size is None else (
                self._inter_size + self._alpha_rate * (size - self._inter_size))
        if self._tracked is None or self._tracked[0].shape != raw.matrix.shape or keyframe:
            matrix = raw.matrix
        else:
            tracked, previous = self._tracked
            weight = self.smoothing if quantizer is None else self.quantizer_smoothing
            smoothed = tracked + weight * (raw.matrix - tracked)
            unchanged = self._unchanged_blocks(previous, luma)
            kept = np.where(unchanged, tracked, smoothed)
            still = float(unchanged.mean()) ** self.unchanged_level_exponent
            kept_mean = float(kept.mean())
            matrix = scaled_to_mean(kept, kept_mean, still * kept_mean + (1.0 - still) * float(smoothed.mean()))
        self._tracked = (matrix, luma)
        value = reduce_matrix(matrix, self.statistic, person)
        if not math.isfinite(value):
            raise ValueError("quality estimate is not finite")
        self.latest = QualityEstimate(value=value, matrix=matrix, statistic=self.statistic, bpp=raw.bpp,
                                      keyframe=raw.keyframe, codec=self.codec)
        return self.latest

    def _unchanged_blocks(self, previous: np.ndarray, luma: np.ndarray) -> np.ndarray:
        """Per block: whether its mean absolute luma step since ``previous`` is within ``unchanged_luma``."""
        rows, cols = luma.shape[0] // BLOCK, luma.shape[1] // BLOCK
        step = cv2.resize(cv2.absdiff(luma, previous), (cols, rows), interpolation=cv2.INTER_AREA)
        return step <= self.unchanged_luma

    def set_statistic(self, statistic: str) -> None:
        """Change the statistic for the following frames."""
        self.statistic = check_statistic(statistic)
