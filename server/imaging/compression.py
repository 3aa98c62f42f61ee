"""Still-image compression round trips used as background degradation operators.

Each method compresses and decodes a BGR image at one parameter. The parameter ladders list, for
each method, the parameters a search may use, from the mildest to the harshest.
"""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np

from .validation import require_bgr_image, require_choice

METHODS: tuple[str, ...] = ("jpeg", "webp", "vp8", "h264")

# Parameter ladders, mildest first. jpeg/webp: quality 1..100; vp8: quantizer 0..63; h264: QP 0..51.
LADDERS: dict[str, tuple[int, ...]] = {
    "jpeg": (95, 85, 75, 65, 55, 45, 35, 28, 22, 17, 13, 10, 7, 5, 3, 1),
    "webp": (95, 85, 75, 65, 55, 45, 35, 28, 22, 17, 13, 10, 7, 5, 3, 1),
    "vp8": (4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 63),
    "h264": (18, 22, 25, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 51),
}
_PARAM_RANGES: dict[str, tuple[int, int]] = {"jpeg": (1, 100), "webp": (1, 100), "vp8": (0, 63), "h264": (0, 51)}


def compress(image_bgr: np.ndarray, method: str, parameter: int) -> np.ndarray:
    """Compress ``image_bgr`` with ``method`` at ``parameter`` and return the decoded BGR image."""
    require_bgr_image(image_bgr, "image")
    require_choice(method, METHODS, "compression method")
    low, high = _PARAM_RANGES[method]
    if not low <= int(parameter) <= high:
        raise ValueError(f"{method} parameter must be in {low}..{high}, got {parameter}")
    if method in ("jpeg", "webp"):
        return _opencv_round_trip(image_bgr, method, int(parameter))
    return _intra_frame_round_trip(image_bgr, method, int(parameter))


def _opencv_round_trip(image: np.ndarray, method: str, quality: int) -> np.ndarray:
    ext, flag = (".jpg", cv2.IMWRITE_JPEG_QUALITY) if method == "jpeg" else (".webp", cv2.IMWRITE_WEBP_QUALITY)
    ok, encoded = cv2.imencode(ext, image, [flag, quality])
    if not ok:
        raise ValueError(f"{method} encoding failed for a {image.shape[1]}x{image.shape[0]} image")
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


def _intra_frame_round_trip(image: np.ndarray, method: str, quantizer: int) -> np.ndarray:
    """One keyframe of the stream's own codec at a fixed quantizer (even sizes: 4:2:0)."""
    height, width = image.shape[:2]
    even = image[: height - height % 2, : width - width % 2]
    if even.shape[0] < 2 or even.shape[1] < 2:
        raise ValueError(f"image too small for {method}: {width}x{height}")
    encoder = av.CodecContext.create("libvpx" if method == "vp8" else "libx264", "w")
    encoder.width, encoder.height = even.shape[1], even.shape[0]
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, 30)
    encoder.thread_count = 1
    if method == "vp8":
        encoder.bit_rate = 50_000_000
        encoder.options = {
            "qmin": str(quantizer), "qmax": str(quantizer), "end-usage": "q", "cq-level": str(quantizer),
            "deadline": "realtime", "cpu-used": "-8", "lag-in-frames": "0",
        }
    else:
        encoder.options = {"qp": str(quantizer), "preset": "ultrafast", "tune": "zerolatency"}
    i420 = cv2.cvtColor(np.ascontiguousarray(even), cv2.COLOR_BGR2YUV_I420)
    packets = list(encoder.encode(av.VideoFrame.from_ndarray(i420, format="yuv420p")))
    packets += list(encoder.encode(None))
    decoder = av.CodecContext.create("vp8" if method == "vp8" else "h264", "r")
    frames = []
    for packet in packets:
        frames.extend(decoder.decode(packet))
    frames.extend(decoder.decode(None))
    if not frames:
        raise ValueError(f"{method} produced no decodable frame")
    decoded = frames[0].to_ndarray(format="bgr24")
    if decoded.shape[:2] == (height, width):
        return decoded
    return cv2.copyMakeBorder(decoded, 0, height - decoded.shape[0], 0, width - decoded.shape[1], cv2.BORDER_REPLICATE)
