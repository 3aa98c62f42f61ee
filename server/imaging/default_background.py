"""The built-in background used until an admin uploads one: a soft studio backdrop, drawn procedurally."""

from __future__ import annotations

import cv2
import numpy as np

DEFAULT_BACKGROUND_KEY = "builtin:studio"


def studio_background(width: int = 1280, height: int = 720, seed: int = 3) -> np.ndarray:
    """A warm-to-teal gradient with out-of-focus lights and fine texture (BGR uint8)."""
    if width < 16 or height < 16:
        raise ValueError(f"background must be at least 16x16, got {width}x{height}")
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (0.65 * ys / height + 0.35 * xs / width)[:, :, None]
    top = np.array([112, 86, 46], np.float32)     # BGR: deep teal-blue
    bottom = np.array([70, 120, 196], np.float32)  # BGR: warm amber
    image = top * (1 - t) + bottom * t
    lights = np.zeros((height, width, 3), np.float32)
    for _ in range(28):
        centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height * 0.8)))
        radius = int(rng.uniform(0.02, 0.07) * width)
        colour = tuple(float(c) for c in rng.uniform(60, 140, 3))
        cv2.circle(lights, centre, radius, colour, -1, lineType=cv2.LINE_AA)
    lights = cv2.GaussianBlur(lights, (0, 0), width * 0.006)
    image = image + 0.55 * lights
    grain = cv2.GaussianBlur(rng.normal(0, 6, (height, width)).astype(np.float32), (0, 0), 1.2)
    image += grain[:, :, None]
    return np.clip(image, 0, 255).astype(np.uint8)
