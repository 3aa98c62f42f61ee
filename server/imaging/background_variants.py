"""Degraded background variants, cached, and chosen per stream with hysteresis.

Targets are quantised into quality levels (``LEVEL_STEP`` of loss each). A ``VariantCache`` keeps one
degraded image per (background, size, method, level), least recently used first out. A variant's
parameters come from the compression-parameter model when one is shipped (one prediction and one
measurement of the result; kept when it lands within half a level of the target), else from the
search over a measured ``BackgroundProfile`` (kept per background, size and method), to a quarter of
a level (finer is invisible behind the level's hysteresis and costs bisection steps). Level 0 is the
pristine background itself, made at once; levels beyond the method's reach on a background share
its ceiling (the mildest setting that reaches the method's highest loss), searched once. The cache
may be read (``peek``, ``nearest``) from one thread while another makes variants. A
``LevelSelector`` per stream moves to a new level only when the estimate has left the current level's
band by a margin for a while (and, for a small change, the level has shown for a while), so neither an
estimate that hovers at a boundary nor one that swings with the content makes the background flicker
between variants.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from .compression_model import CompressionModel, MeasuredImage, load_compression_model
from .degradation import BackgroundProfile, DegradationParams, MatchResult, choose_params, degrade
from .validation import require_bgr_image
from .yuv import bgr_to_i420

_Item = TypeVar("_Item")

LEVEL_STEP = 0.01
MAX_LEVEL = 60


def level_for(target: float) -> int:
    """The quality level whose band holds ``target`` (level 0 = pristine)."""
    return int(min(MAX_LEVEL, max(0, round(float(target) / LEVEL_STEP))))


def level_target(level: int) -> float:
    """The loss a level's variant is matched to."""
    return level * LEVEL_STEP


@dataclass
class LevelSelector:
    """Hysteresis over quality levels for one stream, in the stream's own time.

    The level changes only when the estimate has left the current level's band by ``margin`` steps
    and stayed out for ``confirm_s``; a change of fewer than ``jump_levels`` levels also waits until
    the level has shown for ``hold_s``. A live estimate swings with the content (a pan costs bits, a
    pause saves them) and with the sender's bitrate ramp: replayed through a band-and-margin rule
    alone, a panning 640x480 participant's recorded 40 s switched the background 68 times (a still
    one 24), several times a second; with these defaults 7 and 7, the shown level at 0.006 of the
    estimate on average (0.0035 before), and a jump from 0.02 to 0.08 followed in 0.33 s
    (``scripts/bench_levels.py`` measures it offline). Called without ``now_s`` it is the
    band-and-margin rule alone.
    """

    margin: float = 0.35
    """How far past a band's edge (in steps) an estimate must go before the level changes."""
    confirm_s: float = 0.3
    """How long the estimate must stay outside the band (on one side) before the level follows it."""
    hold_s: float = 1.5
    """The least time a level shows before a smaller change than ``jump_levels``."""
    jump_levels: int = 3
    """A change of this many levels or more (the network changed) does not wait for ``hold_s``."""
    level: int | None = None
    _changed_at: float | None = field(default=None, init=False, repr=False)
    """Stream time of the last change (or of the first level)."""
    _outside_since: float | None = field(default=None, init=False, repr=False)
    """Since when the estimate has stayed outside the band, on ``_outside_side`` (+1 above, -1 below)."""
    _outside_side: int = field(default=0, init=False, repr=False)

    def update(self, target: float, now_s: float | None = None) -> int:
        """The level to show for the latest estimated ``target`` at stream time ``now_s`` (seconds)."""
        proposed = level_for(target)
        if self.level is None:
            self.level, self._changed_at = proposed, now_s
            return self.level
        offset = float(target) - level_target(self.level)
        if abs(offset) <= (0.5 + self.margin) * LEVEL_STEP:
            self._outside_since = None
            return self.level
        if now_s is None:
            self.level = proposed
            return self.level
        if self._changed_at is None or now_s < self._changed_at:  # no clock yet, or the stream restarted
            self._changed_at, self._outside_since = now_s, None
        side = 1 if offset > 0 else -1
        if self._outside_since is None or side != self._outside_side or now_s < self._outside_since:
            self._outside_since, self._outside_side = now_s, side
        confirmed = now_s - self._outside_since >= self.confirm_s
        held = now_s - self._changed_at >= self.hold_s or abs(proposed - self.level) >= self.jump_levels
        if confirmed and held:
            self.level, self._changed_at, self._outside_since = proposed, now_s, None
        return self.level


@dataclass(frozen=True)
class Variant:
    """A degraded background and how it was made."""

    image: np.ndarray
    level: int
    match: MatchResult
    i420: np.ndarray | None = None
    """The same image as I420, for even sizes (the server composites in I420)."""


class VariantCache:
    """Degraded variants keyed by (background key, width, height, method, level), LRU-bounded."""

    def __init__(self, max_variants: int = 64, max_profiles: int = 8,
                 model: CompressionModel | None | bool = True) -> None:
        self._variants: OrderedDict[tuple, Variant] = OrderedDict()
        self._profiles: OrderedDict[tuple, BackgroundProfile] = OrderedDict()
        self._measured: OrderedDict[tuple, MeasuredImage] = OrderedDict()
        self._ceilings: OrderedDict[tuple, Variant] = OrderedDict()
        """Per background, size and method: the variant at the method's ceiling, once a level was
        found out of reach."""
        self._max_variants, self._max_profiles = max_variants, max_profiles
        self._lock = threading.Lock()  # guards the variants' store (read by other threads)
        self._model = load_compression_model() if model is True else (model or None)
        self.predicted = 0
        """Variants whose parameters came from the model."""
        self.searched = 0
        """Variants whose parameters came from the search."""

    def variant(self, key: str, background_bgr: np.ndarray, method: str, level: int) -> Variant:
        """The variant of ``background_bgr`` (already at output size) for ``level``, made if needed
        (a search can take a few hundred milliseconds; level 0 is immediate, and so is a level beyond
        what the method reaches on this background once one such level was searched: it gets the
        method's ceiling again)."""
        require_bgr_image(background_bgr, "background")
        height, width = background_bgr.shape[:2]
        found = self.peek(key, width, height, method, level)
        if found is not None:
            return found
        target = level_target(level)
        ceiling = self._recall(self._ceilings, (key, width, height, method)) if level > 0 else None
        if level == 0:
            variant = Variant(background_bgr, 0, MatchResult(DegradationParams(), 0.0, 0.0), _i420_of(background_bgr))
        elif ceiling is not None and ceiling.match.loss < target - LEVEL_STEP / 2:
            variant = Variant(ceiling.image, level, MatchResult(ceiling.match.params, ceiling.match.loss, target),
                              ceiling.i420)
        else:
            predicted = self._predict(key, background_bgr, method, level)
            if predicted is not None:
                match, image = predicted
                self.predicted += 1
            else:
                profile = self._profile(key, background_bgr, method)
                match = choose_params(profile, target, tolerance=LEVEL_STEP / 4)
                image = degrade(profile.image, match.params)
                self.searched += 1
            variant = Variant(image, level, match, _i420_of(image))
            if match.loss < target - LEVEL_STEP / 2:  # out of the method's reach: its ceiling
                self._remember(self._ceilings, (key, width, height, method), variant, self._max_profiles)
        return self._remember(self._variants, (key, width, height, method, level), variant, self._max_variants)

    def peek(self, key: str, width: int, height: int, method: str, level: int) -> Variant | None:
        """The variant for ``level`` if it has been made, without making it."""
        return self._recall(self._variants, (key, width, height, method, level))

    def nearest(self, key: str, width: int, height: int, method: str, level: int) -> Variant | None:
        """Of the variants already made for this background, size and method, the one whose level is
        closest to ``level`` (the lower on a tie); None if there is none."""
        with self._lock:
            made = [v for k, v in self._variants.items() if k[:4] == (key, width, height, method)]
        return min(made, key=lambda v: (abs(v.level - level), v.level), default=None)

    def _predict(self, key: str, background_bgr: np.ndarray, method: str,
                 level: int) -> tuple[MatchResult, np.ndarray] | None:
        """The model's variant for ``level`` if it lands within half a level of the target, else None."""
        if self._model is None or level == 0 or method not in self._model.methods:
            return None
        height, width = background_bgr.shape[:2]
        measured_key = (key, width, height)
        measured = self._recall(self._measured, measured_key)
        if measured is None:
            measured = self._remember(self._measured, measured_key, MeasuredImage.of(background_bgr), self._max_profiles)
        target = level_target(level)
        matched = self._model.match(background_bgr, target, method, measured, LEVEL_STEP / 2)
        if matched is None:
            return None
        params, image, loss = matched
        return MatchResult(params, loss, target), image

    def forget(self, key: str) -> None:
        """Drop every variant and profile of one background (e.g. after it was deleted)."""
        with self._lock:
            for store in (self._variants, self._profiles, self._measured, self._ceilings):
                for stale in [k for k in store if k[0] == key]:
                    del store[stale]

    def _profile(self, key: str, background_bgr: np.ndarray, method: str) -> BackgroundProfile:
        height, width = background_bgr.shape[:2]
        profile_key = (key, width, height, method)
        profile = self._recall(self._profiles, profile_key)
        if profile is None:
            profile = self._remember(self._profiles, profile_key, BackgroundProfile(background_bgr, method),
                                     self._max_profiles)
        return profile

    def _recall(self, store: "OrderedDict[tuple, _Item]", key: tuple) -> _Item | None:
        """``store[key]`` marked as recently used, or None."""
        with self._lock:
            found = store.get(key)
            if found is not None:
                store.move_to_end(key)
            return found

    def _remember(self, store: "OrderedDict[tuple, _Item]", key: tuple, value: _Item, limit: int) -> _Item:
        """Store ``value`` under ``key``, evicting the least recently used beyond ``limit``; returns ``value``."""
        with self._lock:
            store[key] = value
            while len(store) > limit:
                store.popitem(last=False)
        return value


def _i420_of(image: np.ndarray) -> np.ndarray | None:
    """The image as I420 for even sizes (the server composites in I420), else None."""
    height, width = image.shape[:2]
    return bgr_to_i420(image) if width % 2 == 0 and height % 2 == 0 else None
