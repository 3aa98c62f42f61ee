"""Make the seats of a shared scene look like one camera shot: every seat is degraded to the weakest.

Each seat's frame has its own estimated loss (1 - SSIM against its unseen original), averaged over
the last two seconds of its stream (``SmoothedLoss``): a frame's estimate swings within a group of
pictures, and a scene matched to the latest frames moved the seats' degradation every few seconds.
The scene's target is the weakest seat's averaged loss (``scene_layout.scene_target``); every better
seat gets the *extra* loss ``target - own`` added to its cut-out (``seat_extras``), the weakest gets
none and its pixels pass untouched. Losses of successive degradations roughly add up for the small
values involved, and the estimator cannot judge an already-degraded cut-out (it relies on the
encoded size), so the extra loss is measured against the seat's own decoded frame.

``CutOutMatcher`` does this for one stream: extra losses are quantised into the background's levels
with the same hysteresis (``LevelSelector``), and each level's parameters are chosen on a recent
cut-out, refreshed now and then (a person moves): by the compression-parameter model when its one
measured result is within half a level, else by the search over a profile of that cut-out (tens of
milliseconds, so never per frame). ``compose_scene`` pastes the seats' cut-outs onto the scene background (I420,
the codec's format, so the scene goes to the encoder without a conversion).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from .background_variants import LEVEL_STEP, LevelSelector, level_target
from .compression_model import CompressionModel, MeasuredImage, load_compression_model
from .degradation import BackgroundProfile, DegradationParams, choose_params, degrade
from .scene_layout import Box, scene_target
from .validation import require_bgr_image, require_choice
from .yuv import planes, require_i420

SEAT_LOSS_SECONDS = 2.0
"""How long a seat's loss is averaged over (``SmoothedLoss``). Replayed on the looped 640x480 VP8
senders of ``tests/test_scene.py`` (a keyframe a second), the 150 kbps seat read 0.063-0.104 frame by
frame, 0.082-0.092 averaged over 1 s and 0.085-0.090 over 2 s; the 600 kbps seat 0.032-0.070,
0.041-0.053 and 0.043-0.050. Neither window changed a seat's level in 2 min of replay; the best seat
showed its new level 0.7-3.3 s after the weakest seat's loss stepped over 1 s, 1.8-4.0 s over 2 s
(``scripts/bench_scene_levels.py``). Live, under two processes hogging the cores, the test's seats
showed levels 4 and 6 in 19 of 20 stats pushes over this window (7 once), where an exponential
average over 1 s still moved them between levels 3-5 and 5-7 within a run."""

EXTRA_RESEND = 0.002
"""A seat's new extra loss is sent on to its worker once it moved this much (its levels have
hysteresis)."""

CUTOUT_METHODS = ("jpeg", "webp", "blur")
"""Operators cheap enough to run on every cut-out of every frame (an intra frame of VP8 costs ~4.5 ms
at 320x240, JPEG ~0.5 ms)."""


def extra_loss(own_loss: float, target: float) -> float:
    """The loss to add to a seat whose own estimated loss is ``own_loss`` so it reaches ``target``
    (0 for the weakest seat, and for any seat at or beyond the target)."""
    return max(0.0, float(target) - float(own_loss))


def seat_extras(losses: Mapping[str, float], statistic: str = "min") -> tuple[float, dict[str, float]]:
    """The scene's target for seats whose (averaged) losses are ``losses``, and the extra loss each
    seat needs to reach it (0 for the weakest; ``statistic`` as in ``scene_layout.scene_target``)."""
    target = scene_target(list(losses.values()), statistic)
    return target, {seat: extra_loss(loss, target) for seat, loss in losses.items()}


def extras_to_send(wanted: Mapping[str, float], sent: Mapping[str, float],
                   force: bool = False) -> dict[str, float]:
    """Of the seats' ``wanted`` extra losses, those that moved by ``EXTRA_RESEND`` or more from what
    was last ``sent`` (every one with ``force``), in ``wanted``'s order."""
    return {seat: extra for seat, extra in wanted.items()
            if force or abs(extra - sent.get(seat, 0.0)) >= EXTRA_RESEND}


class SmoothedLoss:
    """One seat's estimated loss, the mean over its frames of the last ``seconds``.

    A moving window rather than an exponential average: over whole groups of pictures it cancels
    their swing, and it forgets an old level completely once ``seconds`` have passed, where an
    exponential average creeps towards the new one (the scene test's senders: no level change in
    2 min either way, but the best seat followed a step of the weakest in 1.8-4.0 s against
    3.4-12.3 s, ``scripts/bench_scene_levels.py``). A clock that goes back starts the window again.
    """

    def __init__(self, seconds: float = SEAT_LOSS_SECONDS) -> None:
        if not 0.0 < seconds < math.inf:
            raise ValueError(f"seconds must be a finite number > 0, got {seconds}")
        self.seconds = seconds
        self.value: float | None = None
        """The mean loss (None until the first ``update``)."""
        self._frames: deque[tuple[float, float]] = deque()  # (time, loss) within the window
        self._sum = 0.0

    def update(self, loss: float, now_s: float) -> float:
        """Account the latest frame's ``loss`` at time ``now_s`` (seconds); returns the mean."""
        if not (math.isfinite(loss) and loss >= 0.0):
            raise ValueError(f"loss must be a finite number >= 0, got {loss!r}")
        if self._frames and now_s < self._frames[-1][0]:
            self._frames.clear()
        if not self._frames:
            self._sum = 0.0  # no rounding error carried over
        self._frames.append((now_s, float(loss)))
        self._sum += float(loss)
        while self._frames[0][0] <= now_s - self.seconds:
            self._sum -= self._frames.popleft()[1]
        self.value = max(0.0, self._sum / len(self._frames))
        return self.value


@dataclass(frozen=True)
class MatchedCutOut:
    """A seat's cut-out after matching."""

    image: np.ndarray
    """The cut-out (BGR), degraded by ``added_loss``; the input array itself when nothing was added."""
    level: int
    """The extra-loss level applied (0: untouched)."""
    added_loss: float
    """1 - SSIM of the degraded cut-out against the undegraded one, as measured on the profile."""
    params: DegradationParams


class CutOutMatcher:
    """Adds a requested extra loss to one stream's successive cut-outs, with hysteresis."""

    def __init__(self, method: str = "jpeg", refresh_frames: int = 90,
                 model: CompressionModel | None | bool = True) -> None:
        self.method = require_choice(method, CUTOUT_METHODS, "cut-out degradation method")
        if refresh_frames < 1:
            raise ValueError(f"refresh_frames must be >= 1, got {refresh_frames}")
        self.refresh_frames = refresh_frames
        self._model = load_compression_model() if model is True else (model or None)
        self._levels = LevelSelector()
        self._sample: np.ndarray | None = None  # the cut-out the current choices were made on
        self._sample_age = 0
        self._profile: BackgroundProfile | None = None
        self._measured: MeasuredImage | None = None  # the sample, measured once for every level chosen on it
        self._choices: dict[int, tuple[DegradationParams, float]] = {}

    def match(self, cutout_bgr: np.ndarray, extra: float) -> MatchedCutOut:
        """``cutout_bgr`` with about ``extra`` loss added (quantised to levels of the background's step)."""
        return self.apply(cutout_bgr, self.level(extra))

    def level(self, extra: float, now_s: float | None = None) -> int:
        """The level for the latest requested ``extra`` loss, with hysteresis (0: leave the cut-out as is);
        ``now_s``: the stream's time in seconds (``LevelSelector.update``)."""
        if not np.isfinite(extra) or extra < 0:
            raise ValueError(f"extra loss must be a finite number >= 0, got {extra!r}")
        self._sample_age += 1
        return self._levels.update(extra, now_s)

    def apply(self, cutout_bgr: np.ndarray, level: int) -> MatchedCutOut:
        """``cutout_bgr`` degraded to ``level`` (from ``level``); the input itself at level 0."""
        require_bgr_image(cutout_bgr, "cut-out")
        if level == 0:
            return MatchedCutOut(cutout_bgr, 0, 0.0, DegradationParams())
        if self._sample is None or self._sample_age > self.refresh_frames or self._sample.shape != cutout_bgr.shape:
            self._sample, self._sample_age, self._profile, self._measured = cutout_bgr, 0, None, None
            self._choices.clear()
        choice = self._choices.get(level)
        if choice is None:
            choice = self._choices[level] = self._choose(level_target(level))
        params, loss = choice
        return MatchedCutOut(degrade(cutout_bgr, params), level, loss, params)

    def _choose(self, target: float) -> tuple[DegradationParams, float]:
        """Parameters and their measured loss for ``target`` on the current sample cut-out."""
        assert self._sample is not None
        if self._model is not None:
            if self._measured is None:
                self._measured = MeasuredImage.of(self._sample)
            matched = self._model.match(self._sample, target, self.method, self._measured, LEVEL_STEP / 2)
            if matched is not None:
                return matched[0], matched[2]
        if self._profile is None:
            self._profile = BackgroundProfile(self._sample, self.method)
        result = choose_params(self._profile, target, tolerance=LEVEL_STEP / 4)
        return result.params, result.loss


@dataclass(frozen=True)
class SeatCutOut:
    """A participant's picture placed in the scene: where, what (I420, ``box`` sized, even), and how
    opaque (uint8 0..255, full resolution)."""

    box: Box
    image: np.ndarray
    alpha: np.ndarray

    def __post_init__(self) -> None:
        width, height = self.box.width, self.box.height
        if width % 2 or height % 2:
            raise ValueError(f"a cut-out needs an even size, got {width}x{height}")
        require_i420(self.image, width, height)
        if self.alpha.shape != (height, width) or self.alpha.dtype != np.uint8:
            raise ValueError(f"cut-out alpha must be uint8 {height}x{width}, got {self.alpha.dtype} {self.alpha.shape}")


def compose_scene(background_i420: np.ndarray, width: int, height: int, cutouts: list[SeatCutOut]) -> np.ndarray:
    """The scene (I420): the background with each cut-out alpha-blended at its box (which must lie
    inside the frame; chroma at half resolution, an odd box position rounds down there)."""
    require_i420(background_i420, width, height)
    scene = background_i420.copy()
    scene_planes = planes(scene, width, height)
    for cut in cutouts:
        box = cut.box
        if box.x < 0 or box.y < 0 or box.x + box.width > width or box.y + box.height > height:
            raise ValueError(f"cut-out box {box} lies outside the {width}x{height} scene")
        weights = cut.alpha.astype(np.float32) * (1.0 / 255.0)
        half = cv2.resize(weights, (box.width // 2, box.height // 2), interpolation=cv2.INTER_AREA)
        for index, (target, source) in enumerate(zip(scene_planes, planes(cut.image, box.width, box.height))):
            w = weights if index == 0 else half
            x, y = (box.x, box.y) if index == 0 else (box.x // 2, box.y // 2)
            region = target[y:y + w.shape[0], x:x + w.shape[1]]
            region[:] = cv2.blendLinear(source, region, w, 1.0 - w)
    return scene
