"""Put the person over a background: ``out = frame * mask + background * (1 - mask)``."""

from __future__ import annotations

import cv2
import numpy as np

from .validation import require_bgr_image, require_mask, require_same_size


def composite(frame_bgr: np.ndarray, background_bgr: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blend ``frame_bgr`` over ``background_bgr`` with ``mask`` (HxW, float 0..1 or uint8 0..255)."""
    require_bgr_image(frame_bgr, "frame")
    require_bgr_image(background_bgr, "background")
    require_same_size(frame_bgr, background_bgr, "frame", "background")
    weights = require_mask(mask, frame_bgr.shape[:2])
    return cv2.blendLinear(frame_bgr, background_bgr, weights, 1.0 - weights)


def fit_background(background_bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale and centre-crop a background to cover ``width`` x ``height`` (no distortion)."""
    require_bgr_image(background_bgr, "background")
    src_h, src_w = background_bgr.shape[:2]
    scale = max(width / src_w, height / src_h)
    new_w, new_h = max(width, round(src_w * scale)), max(height, round(src_h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(background_bgr, (new_w, new_h), interpolation=interpolation)
    x0, y0 = (new_w - width) // 2, (new_h - height) // 2
    return np.ascontiguousarray(resized[y0 : y0 + height, x0 : x0 + width])
