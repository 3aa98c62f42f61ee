"""Degrade a pristine background so that its SSIM loss matches a target.

Operators (``DegradationParams``): a pre-blur, a downscale, and compression with a preset algorithm
(JPEG, WebP, or one intra frame of VP8 or H.264) at a compression parameter. ``degrade`` applies them;
``choose_params`` searches the parameters that reach a target loss; ``match_background`` does both.

The search measures, once per background and size, the loss of every step of the method's
compression ladder (``BackgroundProfile``), takes the harshest step whose loss does not exceed the
target, then bisects a pre-blur sigma to close the remaining gap. Loss grows smoothly with the blur,
so the result lands within a tolerance of any reachable target and is monotone in the target. A
target beyond reach gets the method's ceiling: the mildest setting tried whose loss is within the
tolerance of the highest (a stronger pre-blur can lose less and only smears more).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .compression import LADDERS, METHODS as COMPRESSION_METHODS, compress
from .metrics import SsimReference, luma
from .validation import require_bgr_image, require_choice

MATCH_METHODS: tuple[str, ...] = COMPRESSION_METHODS + ("blur", "downscale")
DEFAULT_TOLERANCE = 0.001
MAX_BLUR_SIGMA = 24.0
MIN_SCALE = 0.02
_BISECTION_STEPS = 14


@dataclass(frozen=True)
class DegradationParams:
    """One degradation: blur (sigma in pixels), downscale factor, then compression at a parameter."""

    blur_sigma: float = 0.0
    """Gaussian pre-blur sigma in pixels; 0 means none."""
    scale: float = 1.0
    """Downscale factor in (0, 1]; the image is shrunk (area) and enlarged back (linear)."""
    method: str | None = None
    """Compression method (jpeg, webp, vp8, h264) or None for no compression."""
    parameter: int | None = None
    """The method's parameter: jpeg/webp quality 1..100, vp8 quantizer 0..63, h264 QP 0..51."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.blur_sigma) and self.blur_sigma >= 0):
            raise ValueError(f"blur_sigma must be a finite number >= 0, got {self.blur_sigma}")
        if not (math.isfinite(self.scale) and 0 < self.scale <= 1):
            raise ValueError(f"scale must be in (0, 1], got {self.scale}")
        if self.method is not None:
            require_choice(self.method, COMPRESSION_METHODS, "compression method")
            if self.parameter is None:
                raise ValueError(f"method {self.method!r} needs a parameter")

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly description."""
        return {"blur_sigma": round(self.blur_sigma, 4), "scale": round(self.scale, 4),
                "method": self.method, "parameter": self.parameter}


def degrade(image_bgr: np.ndarray, params: DegradationParams) -> np.ndarray:
    """Apply ``params`` to a BGR image and return a new image of the same size."""
    require_bgr_image(image_bgr, "image")
    out = image_bgr
    if params.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), params.blur_sigma, borderType=cv2.BORDER_REFLECT101)
    height, width = image_bgr.shape[:2]
    small = out
    if params.scale < 1.0:
        size = (max(2, round(width * params.scale)), max(2, round(height * params.scale)))
        small = cv2.resize(out, size, interpolation=cv2.INTER_AREA)
    if params.method is not None:
        small = compress(small, params.method, int(params.parameter))  # type: ignore[arg-type]
    if small.shape[:2] != (height, width):
        small = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    return small.copy() if small is image_bgr else small


@dataclass
class BackgroundProfile:
    """A background at one size, with the measured loss of each step of a compression ladder."""

    image: np.ndarray
    method: str
    reference: SsimReference = field(init=False)
    ladder: list[tuple[DegradationParams, float]] = field(init=False)

    def __post_init__(self) -> None:
        require_bgr_image(self.image, "background")
        require_choice(self.method, MATCH_METHODS, "match method")
        self.reference = SsimReference(luma(self.image))
        steps = [DegradationParams()]
        if self.method in COMPRESSION_METHODS:
            steps += [DegradationParams(method=self.method, parameter=p) for p in LADDERS[self.method]]
        self.ladder = [(p, self.loss(p)) for p in steps]

    def loss(self, params: DegradationParams) -> float:
        """The exact 1 - SSIM(luma) of the degraded background against the pristine one."""
        return self.reference.loss(degrade(self.image, params))


@dataclass(frozen=True)
class MatchResult:
    """The parameters chosen for a target and the loss they measure."""

    params: DegradationParams
    loss: float
    target: float


def choose_params(profile: BackgroundProfile, target: float, tolerance: float = DEFAULT_TOLERANCE) -> MatchResult:
    """Find parameters whose loss on ``profile``'s background is ``target`` (within ``tolerance``)."""
    target = _check_target(target)
    if profile.method == "downscale":
        return _bisect(profile, target, tolerance, lambda s: DegradationParams(scale=max(MIN_SCALE, 1.0 - s)),
                       0.0, 1.0 - MIN_SCALE)
    # The harshest ladder step that does not overshoot; ladder losses need not be monotone in the step.
    base, base_loss = max(((p, l) for p, l in profile.ladder if l <= target + tolerance),
                          key=lambda item: item[1], default=profile.ladder[0])
    if abs(base_loss - target) <= tolerance:
        return MatchResult(base, base_loss, target)
    return _bisect(profile, target, tolerance,
                   lambda s: DegradationParams(blur_sigma=s, method=base.method, parameter=base.parameter),
                   0.0, MAX_BLUR_SIGMA)


def match_background(background_bgr: np.ndarray, target: float, method: str = "jpeg",
                     tolerance: float = DEFAULT_TOLERANCE) -> np.ndarray:
    """Return ``background_bgr`` degraded so that 1 - SSIM(luma) against it is ``target``.

    Where ``target`` is beyond what the method reaches, the mildest degradation that reaches the
    method's highest loss is returned.
    """
    require_bgr_image(background_bgr, "background")
    target = _check_target(target)
    if target <= 0.0:
        return background_bgr.copy()
    profile = BackgroundProfile(background_bgr, method)
    return degrade(background_bgr, choose_params(profile, target, tolerance).params)


def _check_target(target: float) -> float:
    try:
        value = float(target)
    except (TypeError, ValueError):
        raise ValueError(f"target must be a number in [0, 1], got {target!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"target must be a number in [0, 1], got {target!r}")
    return value


def _bisect(profile: BackgroundProfile, target: float, tolerance: float, make, low: float, high: float) -> MatchResult:
    """Bisect a strength ``s`` in [low, high] whose loss rises with ``s`` until it hits ``target``."""
    best = MatchResult(make(low), profile.loss(make(low)), target)
    if best.loss >= target - tolerance:
        return best
    # Grow the bracket geometrically first: most targets need a small strength.
    upper = min(high, max(low + 0.5, 1e-3) if high > 2 else high)
    upper_loss = profile.loss(make(upper))
    candidates = [best, MatchResult(make(upper), upper_loss, target)]
    while upper_loss < target and upper < high:
        low, upper = upper, min(high, upper * 2.0)
        upper_loss = profile.loss(make(upper))
        candidates.append(MatchResult(make(upper), upper_loss, target))
    if upper_loss < target:
        # Unreachable: the mildest strength tried that reaches the method's ceiling. Past it, more blur
        # changes the look (a smear instead of blocks) without adding loss.
        ceiling = max(c.loss for c in candidates)
        return next(c for c in candidates if c.loss >= ceiling - tolerance)
    high = upper
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        params = make(middle)
        loss = profile.loss(params)
        candidates.append(MatchResult(params, loss, target))
        if abs(loss - target) <= tolerance:
            break
        if loss < target:
            low = middle
        else:
            high = middle
    return min(candidates, key=lambda c: abs(c.loss - target))
