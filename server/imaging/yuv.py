"""I420 (YUV 4:2:0 planar, as codecs decode it) helpers, so the server never converts full frames
to BGR and back: luma for quality, a small BGR frame for segmentation, blending per plane."""

from __future__ import annotations

import cv2
import numpy as np

from .validation import require_mask

# Limited-range luma (16..235) to the full-range grey that cv2's grey conversion gives of PyAV's BGR
# (swscale's) of the same frame, which is what the quality model was trained on. Fitted on decoded
# frames (least squares); the textbook (Y - 16) * 255 / 219 is 1.2 grey levels off at mid-grey.
_LIMITED_TO_FULL = np.clip(np.arange(256) * 1.1597 - 19.295 + 0.5, 0, 255).astype(np.uint8)


def require_i420(i420: object, width: int, height: int) -> np.ndarray:
    """Return ``i420`` if it is a (height*3/2, width) uint8 array with even sizes, else raise ValueError."""
    if not isinstance(i420, np.ndarray) or i420.dtype != np.uint8:
        raise ValueError("an I420 frame must be a uint8 numpy array")
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise ValueError(f"I420 frames need even sizes of at least 2, got {width}x{height}")
    if i420.shape != (height * 3 // 2, width):
        raise ValueError(f"I420 array shape {i420.shape} does not fit {width}x{height}")
    return i420


def planes(i420: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U and V planes (of a contiguous I420 array; any even height)."""
    if not i420.flags.c_contiguous:
        raise ValueError("I420 planes need a contiguous array")
    flat = i420.reshape(-1)
    luma, chroma = width * height, (width // 2) * (height // 2)
    u = flat[luma : luma + chroma].reshape(height // 2, width // 2)
    v = flat[luma + chroma : luma + 2 * chroma].reshape(height // 2, width // 2)
    return i420[:height], u, v


def gray_from_i420(i420: np.ndarray, width: int, height: int) -> np.ndarray:
    """The full-range grey (as ``cv2.cvtColor(bgr, COLOR_BGR2GRAY)`` of the decoded frame) from Y."""
    return cv2.LUT(planes(i420, width, height)[0], _LIMITED_TO_FULL)


def small_bgr_from_i420(i420: np.ndarray, width: int, height: int, size: tuple[int, int]) -> np.ndarray:
    """A BGR frame of ``size`` (w, h), built from a half-resolution 4:4:4 copy (cheap)."""
    y, u, v = planes(i420, width, height)
    half = (width // 2, height // 2)
    yuv = cv2.merge([cv2.resize(y, half, interpolation=cv2.INTER_AREA), u, v])
    bgr = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)
    return bgr if size == half else cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)


def resize_i420(i420: np.ndarray, width: int, height: int, size: tuple[int, int]) -> np.ndarray:
    """The I420 frame scaled to ``size`` (w, h; even), plane by plane."""
    new_width, new_height = size
    if new_width % 2 or new_height % 2:
        raise ValueError(f"I420 needs an even size, got {new_width}x{new_height}")
    out = np.empty((new_height * 3 // 2, new_width), np.uint8)
    interpolation = cv2.INTER_AREA if new_width < width else cv2.INTER_LINEAR
    for source, target in zip(planes(i420, width, height), planes(out, new_width, new_height)):
        target[:] = cv2.resize(source, (target.shape[1], target.shape[0]), interpolation=interpolation)
    return out


def bgr_to_i420(image_bgr: np.ndarray) -> np.ndarray:
    """I420 of an even-sized BGR image."""
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2YUV_I420)


def blend_i420(frame: np.ndarray, background: np.ndarray, mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """``frame * mask + background * (1 - mask)`` per plane; chroma uses the mask at half resolution."""
    require_i420(frame, width, height)
    require_i420(background, width, height)
    weights = require_mask(mask, (height, width))
    half_weights = cv2.resize(weights, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    out = np.empty_like(frame)
    for (a, b, target), w in zip(zip(planes(frame, width, height), planes(background, width, height),
                                     planes(out, width, height)), (weights, half_weights, half_weights)):
        target[:] = cv2.blendLinear(a, b, w, 1.0 - w)
    return out
