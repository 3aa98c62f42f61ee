"""Statistics of a decoded frame's colour planes, for the frame-level quality model
(``features.CHROMA_FEATURES``, the end of ``features.frame_summary``).

A codec quantises chroma with a step tied to luma's (H.264 derives it from the luma QP, VP8 from the
same index), and chroma is smooth in most pictures, so how flat, blocky and noise-free the decoded U
and V planes are follows the quantiser where luma's detail leaves it ambiguous (small frames, high
bitrates). The statistics are read on a sample of the frame: up to ``CHROMA_BANDS`` bands of two
macroblock rows, spread evenly down it (at 640x480, 4 of 15: 0.22 ms, where the whole planes took
0.6 ms). The BGR path takes U and V from OpenCV's I420 conversion of those bands; the server's I420
path reads the decoder's own planes.

Measured before adoption (session 26, on cached frames of seed 8's training recipe and of
``scripts/probe_real_video.py``'s 23,760 frames; the frame head's networks and trees refitted with
and without twelve chroma statistics of the whole planes, two trios of network seeds): real footage
0.879 / 0.882 without, 0.900 / 0.897 with; the training record's held-out frames 0.902 / 0.902
without, 0.912 / 0.913 with; real footage at 320x240 0.788 / 0.799 without, 0.825 / 0.821 with.
Two zero-step shares alone had given less (0.894 against 0.889, with the shipped networks).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .features import BLOCK, LOG_EPS, NOISE_KERNEL_1D
from .validation import require_bgr_image
from .yuv import planes as i420_planes, require_i420

CHROMA_BANDS = 4
"""Chroma statistics read at most this many bands of two macroblock rows, spread down the frame."""
_STEP_SHIFT = 13
_STEP_CODE = np.array([(step == 0) + (step <= 1) * (1 << _STEP_SHIFT) for step in range(256)], np.float32)
"""Per absolute step: 1 if zero, plus 2^13 if at most 1, so that one sum counts both (exactly, in
float64, along chroma rows shorter than 2^13: frames narrower than 16384 pixels)."""


def chroma_features(frame_bgr: np.ndarray) -> np.ndarray:
    """``CHROMA_FEATURES`` of a BGR frame: its U and V planes (as OpenCV's I420 conversion gives them)
    on ``chroma_bands``' sample of whole 16x16 blocks, float32 (len(CHROMA_FEATURES),)."""
    require_bgr_image(frame_bgr, "frame")
    bands, band, covered = chroma_bands(frame_bgr.shape[1], frame_bgr.shape[0])
    width = frame_bgr.shape[1] // BLOCK * BLOCK
    tops = [index * 2 * band for index in range(covered // (2 * band))[bands]]
    # Each band converted where it lies (I420's chroma is local to 2x2 pixels, so this is the
    # conversion of the bands stacked, without copying them together first): U rows, then V rows.
    u_over_v = np.empty((2 * band * len(tops), width // 2), np.uint8)
    u_rows, v_rows = u_over_v[: band * len(tops)], u_over_v[band * len(tops):]
    for number, top in enumerate(tops):
        converted = cv2.cvtColor(frame_bgr[top : top + 2 * band, :width], cv2.COLOR_BGR2YUV_I420)
        chroma = converted[2 * band :].reshape(2 * band, width // 2)
        u_rows[number * band : (number + 1) * band] = chroma[:band]
        v_rows[number * band : (number + 1) * band] = chroma[band:]
    return _chroma_statistics(u_over_v, band)


def chroma_features_i420(i420: np.ndarray, width: int, height: int) -> np.ndarray:
    """``chroma_features`` of a decoded I420 frame, from its own U and V planes (the same bands)."""
    require_i420(i420, width, height)
    bands, band, covered = chroma_bands(width, height)
    half_width = width // BLOCK * BLOCK // 2
    _, u, v = i420_planes(i420, width, height)
    pick = [plane[: covered // 2, :half_width].reshape(-1, band, half_width)[bands].reshape(-1, half_width)
            for plane in (u, v)]
    return _chroma_statistics(np.concatenate(pick), band)


def chroma_bands(width: int, height: int) -> tuple[slice, int, int]:
    """Which bands of a ``width`` x ``height`` frame the chroma statistics read: a slice over the
    frame's bands of two macroblock rows (all of them if there are at most ``CHROMA_BANDS``, else
    every k-th, at most ``CHROMA_BANDS`` in all), a band's height in chroma rows (16), and how many
    frame rows the whole bands cover. A frame of one macroblock row is one band of 8 chroma rows.
    ValueError for a frame smaller than one 16x16 block."""
    rows = height // BLOCK
    if rows < 1 or width < BLOCK:
        raise ValueError(f"frame must be at least {BLOCK}x{BLOCK}, got {width}x{height}")
    if rows < 2:
        return slice(0, 1), BLOCK // 2, BLOCK
    pairs = rows // 2
    return slice(0, pairs, -(-pairs // CHROMA_BANDS)), BLOCK, pairs * 2 * BLOCK


@functools.lru_cache(maxsize=32)
def _chroma_weights(height: int, width: int, band: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights turning sums over a (2 * height, width) sample (U over V, bands of ``band`` rows) into
    per-plane means: vertical steps per row (6 = plane x (4x4 edge, inside, all), rows: steps that
    stay inside a band), horizontal steps per column (3 kinds, columns of one plane), and the noise
    operator's magnitude per row (2 planes; rows whose 3x3 window stays inside a band)."""
    step_rows = np.arange(2 * height - 1)
    inside = step_rows % band != band - 1
    vertical = np.zeros((6, step_rows.size))
    for plane in range(2):
        mine = inside & (step_rows // height == plane)
        for kind, rows in enumerate((mine & (step_rows % 4 == 3), mine & (step_rows % 4 != 3), mine)):
            vertical[3 * plane + kind, rows] = 1.0 / (rows.sum() * width)
    step_cols = np.arange(width - 1)
    horizontal = np.stack([step_cols % 4 == 3, step_cols % 4 != 3, np.ones(step_cols.size, bool)]).astype(np.float64)
    horizontal /= horizontal.sum(axis=1, keepdims=True) * height
    lines = np.arange(2 * height)
    noise = np.zeros((2, lines.size))
    for plane in range(2):
        rows = (lines // height == plane) & (lines % band != 0) & (lines % band != band - 1)
        noise[plane, rows] = 1.0 / (rows.sum() * width)
    return vertical, horizontal, noise


def _step_sums(steps: np.ndarray, axis: int) -> np.ndarray:
    """Sums of absolute ``steps`` (uint8) along ``axis`` (0: down each column, 1: along each row), with
    the counts of zero steps and of steps of at most one: (lines, 3) int64."""
    code = cv2.reduce(cv2.LUT(steps, _STEP_CODE), axis, cv2.REDUCE_SUM, dtype=cv2.CV_64F).ravel().astype(np.int64)
    total = cv2.reduce(steps, axis, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    return np.stack([total, code & ((1 << _STEP_SHIFT) - 1), code >> _STEP_SHIFT], axis=1)


def _chroma_statistics(u_over_v: np.ndarray, band: int) -> np.ndarray:
    """``CHROMA_FEATURES`` of the U plane's sample stacked over the V plane's (uint8 (2h, w); bands of
    ``band`` rows, whose edges no step or 3x3 window crosses)."""
    height, width = u_over_v.shape[0] // 2, u_over_v.shape[1]
    vertical_weights, horizontal_weights, noise_weights = _chroma_weights(height, width, band)
    values = u_over_v.astype(np.float32)
    mean4 = cv2.resize(values, (width // 4, height // 2), interpolation=cv2.INTER_AREA)
    square4 = cv2.resize(cv2.multiply(values, values), (width // 4, height // 2), interpolation=cv2.INTER_AREA)
    mean8 = cv2.resize(mean4, (width // 8, height // 4), interpolation=cv2.INTER_AREA)
    square8 = cv2.resize(square4, (width // 8, height // 4), interpolation=cv2.INTER_AREA)
    log_var8 = np.log1p(np.maximum(square8 - mean8 * mean8, 0.0)).reshape(2, -1).mean(axis=1)
    flat4 = (square4 - mean4 * mean4 < 1.0).reshape(2, -1).mean(axis=1)

    across = cv2.absdiff(u_over_v[:, 1:], u_over_v[:, :-1])
    horizontal = np.stack([horizontal_weights @ _step_sums(across[plane], 0)
                           for plane in (slice(0, height), slice(height, 2 * height))])  # (plane, kind, quantity)
    down = cv2.absdiff(u_over_v[1:], u_over_v[:-1])
    vertical = (vertical_weights @ _step_sums(down, 1)).reshape(2, 3, 3)

    response = cv2.sepFilter2D(u_over_v, cv2.CV_16S, NOISE_KERNEL_1D, NOISE_KERNEL_1D, borderType=cv2.BORDER_REPLICATE)
    magnitude = cv2.reduce(cv2.convertScaleAbs(response, alpha=0.25), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    log_noise = np.log(noise_weights @ magnitude + LOG_EPS)
    both = (horizontal + vertical) / 2  # (plane, kind: 4x4 edge / inside / all, quantity: step / zero / small)
    blockiness4 = np.log((both[:, 0, 0] + LOG_EPS) / (both[:, 1, 0] + LOG_EPS))
    return np.stack([log_var8, both[:, 2, 1], both[:, 2, 2], log_noise, blockiness4, flat4],
                    axis=1).reshape(-1).astype(np.float32)
