"""One stream's per-frame pipeline: segment -> estimate quality -> match the background -> composite."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from ..imaging.background_variants import LevelSelector, Variant, VariantCache
from ..imaging.compositing import composite, fit_background
from ..imaging.degradation import MATCH_METHODS, DegradationParams
from ..imaging.features import BLOCK
from ..imaging.quality import QualityEstimate, QualityTracker
from ..imaging.room_blur import BLURRED_ROOM_KEY, blurred_room_bgr, blurred_room_i420
from ..imaging.scene_layout import Box, place_in_seat
from ..imaging.scene_matching import CUTOUT_METHODS, CutOutMatcher, SeatCutOut
from ..imaging.segmentation import PersonSegmenter
from ..imaging.validation import require_bgr_image, require_choice
from ..imaging.yuv import bgr_to_i420, blend_i420, require_i420, resize_i420, small_bgr_from_i420
from .variant_maker import VariantMaker


@dataclass(frozen=True)
class ProcessorSettings:
    """How a stream is processed."""

    statistic: str = "mean"
    """Statistic reducing the quality matrix: mean, median, max or pNN, over the whole frame, or over the
    person (person-mean...: the blocks the frame's own mask covers)."""
    method: str = "codec"
    """Background degradation: "codec" (the stream's own codec), or jpeg, webp, vp8, h264, blur, downscale."""
    smoothing: float = 0.3
    """Temporal smoothing of the quality estimate (weight of the newest frame)."""


@dataclass(frozen=True)
class ProcessedFrame:
    """A composite and what went into it."""

    image: np.ndarray
    mask: np.ndarray
    quality: QualityEstimate
    level: int
    params: DegradationParams
    background_loss: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    mask_reused: bool = False
    """Whether the previous frame's mask was used instead of segmenting this frame."""
    estimate_reused: bool = False
    """Whether the previous quality estimate was used instead of scoring this frame."""


class StreamProcessor:
    """Holds a stream's state (segmenter, quality tracker, level hysteresis); call ``close`` when done.

    ``variants``: where background variants come from. A ``VariantCache`` makes a missing level on the
    spot (exact, but a search can stall the frame for a few hundred milliseconds: fine offline); a
    ``VariantMaker`` shows the nearest level made while it makes the missing one (the server's choice).
    A frame's ``level`` is the level of the variant actually shown.
    """

    def __init__(self, background_key: str, background_bgr: np.ndarray, codec: str = "vp8",
                 settings: ProcessorSettings | None = None, variants: VariantCache | VariantMaker | None = None) -> None:
        self.settings = settings or ProcessorSettings()
        method = codec if self.settings.method == "codec" else self.settings.method
        self._method = require_choice(method, MATCH_METHODS, "degradation method")
        require_bgr_image(background_bgr, "background")
        self._tracker = QualityTracker(codec, self.settings.statistic, self.settings.smoothing)
        self._segmenter = PersonSegmenter()
        self._levels = LevelSelector()
        self._variants = variants or VariantCache()
        self._fitted: dict[tuple[int, int], np.ndarray] = {}
        self._last_mask: np.ndarray | None = None
        cutout_method = self._method if self._method in CUTOUT_METHODS else "jpeg"
        self._cutout_matcher = CutOutMatcher(cutout_method)
        self.set_background(background_key, background_bgr)

    def set_background(self, key: str, background_bgr: np.ndarray) -> None:
        """Switch to another pristine background (any size; it is fitted to each frame size).
        ``BLURRED_ROOM_KEY`` instead shows the frame's own room blurred (``background_bgr`` unused)."""
        self._background_key = key
        self._background = require_bgr_image(background_bgr, "background")
        self._fitted.clear()

    def set_statistic(self, statistic: str) -> None:
        """Change the statistic applied to the quality matrix."""
        self._tracker.set_statistic(statistic)

    def process(self, frame_bgr: np.ndarray, encoded_size: int, keyframe: bool, timestamp_ms: int,
                quantizer: float | None = None) -> ProcessedFrame:
        """Composite one decoded frame of the stream (``quantizer``: the frame's, when known; see
        ``imaging.quality.estimate_quality``)."""
        require_bgr_image(frame_bgr, "frame")
        laps = _Laps()
        mask = self._segmenter.segment(frame_bgr, timestamp_ms)
        laps.lap("segment")
        quality = self._tracker.update(frame_bgr, encoded_size, keyframe, quantizer, mask)
        laps.lap("estimate")
        if self.blurs_room:
            room = blurred_room_bgr(frame_bgr, mask)
            laps.lap("match")
            image = composite(frame_bgr, room, mask)
            laps.lap("composite")
            return _blurred_room_frame(image, mask, quality, laps)
        level, variant = self._variant_for(quality, frame_bgr.shape[1], frame_bgr.shape[0], timestamp_ms)
        laps.lap("match")
        image = composite(frame_bgr, variant.image, mask)
        laps.lap("composite")
        return _processed(image, mask, quality, level, variant, laps)

    def process_i420(self, i420: np.ndarray, width: int, height: int, encoded_size: int, keyframe: bool,
                     timestamp_ms: int, reuse_mask: bool = False, reuse_estimate: bool = False,
                     quantizer: float | None = None) -> ProcessedFrame:
        """``process`` for a decoded I420 frame; the composite (``image``) is I420 too. No full-size
        conversion to BGR happens: luma feeds the estimate, a half-size BGR copy the segmenter.

        ``reuse_mask``: composite with the previous frame's mask instead of segmenting (load shedding;
        ignored when there is no previous mask of this size). ``mask_reused`` in the result says which.
        ``reuse_estimate``: likewise keep the previous quality estimate (never for a keyframe).
        """
        analysis = self._analyse(i420, width, height, encoded_size, keyframe, timestamp_ms, reuse_mask,
                                 reuse_estimate, quantizer)
        laps = analysis.laps
        if self.blurs_room:
            background = blurred_room_i420(i420, width, height, analysis.mask)
            laps.lap("match")
            image = blend_i420(i420, background, analysis.mask, width, height)
            laps.lap("composite")
            processed = _blurred_room_frame(image, analysis.mask, analysis.quality, laps)
        else:
            level, variant = self._variant_for(analysis.quality, width, height, timestamp_ms)
            laps.lap("match")
            assert variant.i420 is not None  # even sizes, checked above
            image = blend_i420(i420, variant.i420, analysis.mask, width, height)
            laps.lap("composite")
            processed = _processed(image, analysis.mask, analysis.quality, level, variant, laps)
        return replace(processed, mask_reused=analysis.mask_reused, estimate_reused=analysis.estimate_reused)

    def cut_out_i420(self, i420: np.ndarray, width: int, height: int, encoded_size: int, keyframe: bool,
                     timestamp_ms: int, seat: Box, extra: float, reuse_mask: bool = False,
                     reuse_estimate: bool = False, quantizer: float | None = None) -> SceneSeatFrame:
        """The frame as a shared scene's seat: scaled into ``seat`` (bottom-centre anchored), with its
        mask as alpha, degraded by ``extra`` loss (what the scene asks of this seat to reach its
        target, from the seats' averaged estimates: ``scene_matching.seat_extras``; 0 leaves it
        untouched), in levels with hysteresis."""
        analysis = self._analyse(i420, width, height, encoded_size, keyframe, timestamp_ms, reuse_mask,
                                 reuse_estimate, quantizer)
        laps = analysis.laps
        place = place_in_seat(width, height, seat)
        size = (place.width, place.height)
        alpha = cv2.resize(analysis.mask, size, interpolation=cv2.INTER_AREA)
        alpha_u8 = cv2.convertScaleAbs(alpha, alpha=255.0)
        level = self._cutout_matcher.level(extra, timestamp_ms / 1000.0)
        if level == 0:  # the weakest seat: its planes scaled as they are, no round trip through BGR
            picture, matched = resize_i420(i420, width, height, size), None
        else:
            matched = self._cutout_matcher.apply(small_bgr_from_i420(i420, width, height, size), level)
            picture = bgr_to_i420(matched.image)
        laps.lap("match")
        return SceneSeatFrame(SeatCutOut(place, picture, alpha_u8), analysis.quality, level,
                              matched.added_loss if matched else 0.0, matched.params if matched else DegradationParams(),
                              laps.ms, analysis.mask_reused, analysis.estimate_reused)

    def _analyse(self, i420: np.ndarray, width: int, height: int, encoded_size: int, keyframe: bool,
                 timestamp_ms: int, reuse_mask: bool, reuse_estimate: bool,
                 quantizer: float | None = None) -> "_Analysis":
        """Segment (or reuse the last mask) and estimate quality (or reuse the last estimate)."""
        require_i420(i420, width, height)
        laps = _Laps()
        previous = self._last_mask
        mask_reused = reuse_mask and previous is not None and previous.shape == (height, width)
        if mask_reused:
            mask = previous
        else:
            small = small_bgr_from_i420(i420, width, height, self._segmenter.work_size(width, height))
            mask = self._segmenter.segment_small(small, timestamp_ms, width, height)
            self._last_mask = mask
        laps.lap("segment")
        repeated = self._tracker.repeat(encoded_size, keyframe) if reuse_estimate else None
        if repeated is not None and repeated.matrix.shape == (height // BLOCK, width // BLOCK):
            quality, estimate_reused = repeated, True
        else:
            quality = self._tracker.update_i420(i420, width, height, encoded_size, keyframe, quantizer, mask)
            estimate_reused = False
        laps.lap("estimate")
        return _Analysis(mask, quality, mask_reused, estimate_reused, laps)

    def _variant_for(self, quality: QualityEstimate, width: int, height: int,
                     timestamp_ms: int) -> tuple[int, Variant]:
        wanted = self._levels.update(quality.value, timestamp_ms / 1000.0)
        variant = self._variants.variant(self._background_key, self._background_at(width, height), self._method, wanted)
        return variant.level, variant

    @property
    def blurs_room(self) -> bool:
        """Whether the background is the frame's own room, blurred (``BLURRED_ROOM_KEY``)."""
        return self._background_key == BLURRED_ROOM_KEY

    def pristine_background(self, width: int, height: int) -> np.ndarray:
        """The undegraded background fitted to ``width`` x ``height``."""
        return self._background_at(width, height)

    def close(self) -> None:
        """Release the segmentation model."""
        self._segmenter.close()

    def _background_at(self, width: int, height: int) -> np.ndarray:
        fitted = self._fitted.get((width, height))
        if fitted is None:
            fitted = fit_background(self._background, width, height)
            self._fitted[(width, height)] = fitted
        return fitted


@dataclass(frozen=True)
class SceneSeatFrame:
    """A frame prepared as a shared scene's seat."""

    cutout: SeatCutOut
    quality: QualityEstimate
    """The frame's own estimated quality (before any matching)."""
    level: int
    """Extra-loss level applied to match the scene (0: untouched)."""
    added_loss: float
    params: DegradationParams
    timings_ms: dict[str, float]
    mask_reused: bool = False
    estimate_reused: bool = False


@dataclass
class _Analysis:
    mask: np.ndarray
    quality: QualityEstimate
    mask_reused: bool
    estimate_reused: bool
    laps: "_Laps"


class _Laps:
    """Milliseconds per stage, measured back to back."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.ms[stage] = (now - self._last) * 1000.0
        self._last = now


def _processed(image: np.ndarray, mask: np.ndarray, quality: QualityEstimate, level: int, variant: Variant,
               laps: _Laps) -> ProcessedFrame:
    return ProcessedFrame(image=image, mask=mask, quality=quality, level=level, params=variant.match.params,
                          background_loss=variant.match.loss if level > 0 else 0.0, timings_ms=laps.ms)


def _blurred_room_frame(image: np.ndarray, mask: np.ndarray, quality: QualityEstimate, laps: _Laps) -> ProcessedFrame:
    # The room comes from the frame itself: nothing to match, no level, no added loss.
    return ProcessedFrame(image=image, mask=mask, quality=quality, level=0, params=DegradationParams(),
                          background_loss=0.0, timings_ms=laps.ms)
