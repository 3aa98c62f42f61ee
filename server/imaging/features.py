"""Features of a decoded frame for quality estimation, per 16x16 block of the luma plane.

Computed on the codec's block grid (VP8 and H.264 transform 4x4 blocks inside 16x16 macroblocks):
texture (log variance), gradients inside transform blocks versus across their edges (blockiness, in
the spirit of Wang, Sheikh and Bovik), across macroblock edges, the share of flat 4x4 sub-blocks
(detail quantised away), sharpness (interior gradient against texture), and the high-frequency
energy of the 4x4 Walsh-Hadamard transform and how steeply it falls off. Frame-level features
carry the bitrate signal: bits per pixel, keyframe flag, codec and resolution. ``frame_summary``
adds how the block features spread over the frame, for the frame-level model, which also reads
the decoded colour planes' statistics (``CHROMA_FEATURES``, computed by ``chroma``).

Measured and not adopted: statistics of how the block features go with texture over the frame, and
smaller summaries (``server/training/QUALITY_RECORD.md``, section 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .validation import require_bgr_image, require_choice

BLOCK = 16
CODECS: tuple[str, ...] = ("vp8", "h264")
BLOCK_FEATURES: tuple[str, ...] = (
    "log_var", "log_grad_inner", "log_grad_edge4", "log_grad_edge16", "blockiness4", "blockiness16",
    "flat_share", "sharpness", "log_mean_luma", "zero_step_share", "small_step_share",
    "log_high_freq", "high_to_low_freq", "log_noise",
    "near_log_var", "near_blockiness4", "near_zero_step_share", "near_sharpness",
)
# Block features whose 3x3-neighbourhood mean is appended as context (the "near_" features).
_CONTEXT = ("log_var", "blockiness4", "zero_step_share", "sharpness")
FRAME_FEATURES: tuple[str, ...] = (
    "log_bpp", "keyframe", "is_h264", "log_pixels", "mean_log_var", "mean_blockiness4", "mean_flat_share",
    "mean_sharpness", "bits_per_texture", "mean_zero_step_share", "p10_log_var", "p90_log_var",
    "flat_block_share", "mean_log_high_freq", "mean_high_to_low_freq",
    "mean_log_noise", "p10_log_noise",
)
SUMMARY_PERCENTILES: tuple[int, ...] = (10, 25, 50, 75, 90)
CHROMA_FEATURES: tuple[str, ...] = tuple(
    f"{plane}_{name}" for plane in ("u", "v") for name in (
        "log_var8", "zero_step_share", "small_step_share", "log_noise", "blockiness4", "flat4_share"))
"""Per chroma plane (``chroma.chroma_features``): mean log variance of 8x8 blocks, shares of zero and
of at most one grey level steps between neighbours, the noise operator's mean magnitude (log), steps
across 4x4 transform edges against those inside (log ratio), and the share of flat 4x4 blocks."""
LUMA_SUMMARY_FEATURES: tuple[str, ...] = FRAME_FEATURES + tuple(
    f"{statistic}_{name}" for statistic in ("mean", "std", *(f"p{q}" for q in SUMMARY_PERCENTILES))
    for name in BLOCK_FEATURES)
"""The frame-level model's inputs before format /7's chroma features (what older heads read)."""
SUMMARY_FEATURES: tuple[str, ...] = LUMA_SUMMARY_FEATURES + CHROMA_FEATURES
"""The frame-level model's inputs (``frame_summary``)."""
LOG_EPS = 0.5
"""Added before the log of a mean step or magnitude (in grey levels), so that flat areas stay finite."""
_EDGE4 = slice(3, BLOCK - 1, 4)
"""Step positions in a block that cross a 4x4 transform edge (3, 7, 11); BLOCK - 1 crosses the
macroblock edge, the other twelve lie inside transform blocks."""
_EDGE4_COUNT = 3
_INNER_COUNT = BLOCK - 1 - _EDGE4_COUNT


def _position_picks() -> np.ndarray:
    """(16, 3), read-only: which step positions sum to the 4x4 transform edges' steps, to the
    macroblock edge's, and to all of a block's."""
    picks = np.zeros((BLOCK, 3), np.float32)
    picks[_EDGE4, 0] = 1.0
    picks[BLOCK - 1, 1] = 1.0
    picks[:, 2] = 1.0
    picks.setflags(write=False)
    return picks


_POSITION_PICKS = _position_picks()


def frame_luma_u8(frame_bgr: np.ndarray) -> np.ndarray:
    """The BT.601 luma plane of a BGR frame, cropped to whole 16x16 blocks."""
    require_bgr_image(frame_bgr, "frame")
    height, width = frame_bgr.shape[:2]
    if height < BLOCK or width < BLOCK:
        raise ValueError(f"frame must be at least {BLOCK}x{BLOCK}, got {width}x{height}")
    rows, cols = height // BLOCK, width // BLOCK
    return cv2.cvtColor(frame_bgr[: rows * BLOCK, : cols * BLOCK], cv2.COLOR_BGR2GRAY)


def block_features(y: np.ndarray) -> np.ndarray:
    """Per-block features of a cropped luma plane: array (rows, cols, len(BLOCK_FEATURES)) float32."""
    height, width = y.shape
    rows, cols = height // BLOCK, width // BLOCK
    # Means of y and y^2 over 4x4 sub-blocks, then over 16x16 blocks (an average of averages is exact).
    spectrum = _hadamard_4x4(y, rows, cols)
    mean4, sq4 = spectrum.mean4, spectrum.square_mean4
    mean16 = cv2.resize(mean4, (cols, rows), interpolation=cv2.INTER_AREA)
    sq16 = cv2.resize(sq4, (cols, rows), interpolation=cv2.INTER_AREA)
    var16 = np.maximum(sq16 - mean16 * mean16, 0.0)
    flat4 = ((sq4 - mean4 * mean4) < 1.0).astype(np.float32)
    flat_share = cv2.resize(flat4, (cols, rows), interpolation=cv2.INTER_AREA)

    # Absolute steps between neighbours, summed over each block's 16 lines, per position p in the block:
    # p in {3, 7, 11} crosses a 4x4 transform edge, p = 15 a macroblock edge (0 past the image's edge).
    both, zero_counts, small_counts = _position_sums(y, rows, cols)
    zero_share = zero_counts * (1.0 / (2 * BLOCK * 15))
    small_share = small_counts * (1.0 / (2 * BLOCK * 15))
    # The sums are whole numbers below 2^24, exact in float32 in any order: the means below are the
    # same floats as means over the positions picked out. One matrix product picks all three sums.
    position_sums = both.reshape(-1, BLOCK) @ _POSITION_PICKS
    edge4_sum, edge16_sum, all_sum = (position_sums[:, kind].reshape(rows, cols) for kind in range(3))
    edge4 = (edge4_sum / np.float32(_EDGE4_COUNT)) * (1.0 / (2 * BLOCK))
    edge16 = edge16_sum * (1.0 / (2 * BLOCK))
    inner = ((all_sum - edge4_sum - edge16_sum) / np.float32(_INNER_COUNT)) * (1.0 / (2 * BLOCK))
    edge16[:, -1] = edge4[:, -1]
    edge16[-1, :] = edge4[-1, :]

    log_inner = np.log(inner + LOG_EPS)
    features = np.stack([
        np.log1p(var16),
        log_inner,
        np.log(edge4 + LOG_EPS),
        np.log(edge16 + LOG_EPS),
        np.log((edge4 + LOG_EPS) / (inner + LOG_EPS)),
        np.log((edge16 + LOG_EPS) / (inner + LOG_EPS)),
        flat_share,
        log_inner - 0.5 * np.log1p(var16),
        np.log(mean16 + 8.0),
        zero_share,
        small_share,
        spectrum.log_high, spectrum.high_to_low,
        _log_noise(y, rows, cols),
    ], axis=2).astype(np.float32)
    base = BLOCK_FEATURES[: features.shape[2]]
    # One box filter over the four context features as channels (the same sums as one at a time).
    context = cv2.blur(features[:, :, [base.index(name) for name in _CONTEXT]], (3, 3), borderType=cv2.BORDER_REPLICATE)
    return np.concatenate([features, context], axis=2)


@dataclass(frozen=True)
class _Spectrum:
    """Per-block figures of the 4x4 Walsh-Hadamard transform of a luma plane's 4x4 blocks."""

    mean4: np.ndarray
    """Mean of each 4x4 block, (height // 4, width // 4)."""
    square_mean4: np.ndarray
    """Mean of y^2 over each 4x4 block (by Parseval, from the coefficients)."""
    log_high: np.ndarray
    """Per 16x16 block: log of the mean magnitude of the 12 high-frequency coefficients (the detail
    quantisation removes first)."""
    high_to_low: np.ndarray
    """Per 16x16 block: log ratio of those to the 3 lowest AC coefficients (how steeply the spectrum
    falls: blur and smoothing)."""


def _hadamard_4x4(y: np.ndarray, rows: int, cols: int) -> _Spectrum:
    """The 4x4 Walsh-Hadamard transform of the codec's 4x4 blocks, reduced to ``_Spectrum``.

    Both passes run as OpenCV arithmetic on whole planes (the horizontal one on transposed planes);
    only the coefficients' magnitudes are read (the DC is never negative), and every sum is of
    integers below 2^24, so the float32 accumulators are exact."""
    height, width = rows * BLOCK, cols * BLOCK
    # The 16 magnitude planes, vertical frequency j and horizontal k at 4 * j + k, each (width // 4,
    # height // 4): transposed, as the horizontal pass runs down the columns of transposed planes.
    magnitudes = [magnitude
                  for plane in _butterfly_4(y.reshape(height // 4, 4, width))
                  for magnitude in _butterfly_magnitudes_4(cv2.transpose(plane).reshape(width // 4, 4, height // 4))]
    high, low, energy = (np.zeros(magnitudes[0].shape, np.float32) for _ in range(3))
    for index, value in enumerate(magnitudes):
        cv2.accumulateSquare(value, energy)
        if index:  # AC: the three lowest (0,1), (1,0), (1,1) or the twelve others
            cv2.accumulate(value, low if index in (1, 4, 5) else high)
    dc = magnitudes[0].astype(np.float32)
    pooled = cv2.resize(cv2.transpose(cv2.merge([high, low])), (cols, rows), interpolation=cv2.INTER_AREA)
    log_high = np.log(pooled[:, :, 0] * (1.0 / (4 * 12)) + LOG_EPS)
    return _Spectrum(mean4=cv2.transpose(dc) * (1.0 / 16), square_mean4=cv2.transpose(energy) * (1.0 / 256),
                     log_high=log_high, high_to_low=log_high - np.log(pooled[:, :, 1] * (1.0 / (4 * 3)) + LOG_EPS))


def _outer_and_inner_pairs(lines: np.ndarray) -> tuple[np.ndarray, ...]:
    """The butterfly's first stage across axis 1 of ``lines`` (n, 4, m), uint8 or int16: the sums
    and differences of lines 0 and 3 and of lines 1 and 2, int16 planes (n, m)."""
    return (cv2.add(lines[:, 0], lines[:, 3], dtype=cv2.CV_16S), cv2.add(lines[:, 1], lines[:, 2], dtype=cv2.CV_16S),
            cv2.subtract(lines[:, 0], lines[:, 3], dtype=cv2.CV_16S),
            cv2.subtract(lines[:, 1], lines[:, 2], dtype=cv2.CV_16S))


def _butterfly_4(lines: np.ndarray) -> tuple[np.ndarray, ...]:
    """The 4-point Walsh-Hadamard transform across axis 1 of ``lines`` (n, 4, m), uint8 or int16:
    four int16 planes (n, m), frequencies 0..3 in sequency order."""
    s03, s12, d03, d12 = _outer_and_inner_pairs(lines)
    return cv2.add(s03, s12), cv2.add(d03, d12), cv2.subtract(s03, s12), cv2.subtract(d03, d12)


def _butterfly_magnitudes_4(lines: np.ndarray) -> tuple[np.ndarray, ...]:
    """``_butterfly_4``'s magnitudes for int16 ``lines`` whose transform stays below 2^15: four
    uint16 planes, which OpenCV accumulates as they are (the differences' magnitudes in one step)."""
    s03, s12, d03, d12 = _outer_and_inner_pairs(lines)
    return tuple(magnitude.view(np.uint16) for magnitude in (
        cv2.absdiff(cv2.add(s03, s12), 0), cv2.absdiff(cv2.add(d03, d12), 0),
        cv2.absdiff(s03, s12), cv2.absdiff(d03, d12)))


NOISE_KERNEL_1D = np.array([1, -2, 1], np.float32)  # Immerkaer's 3x3 operator is its outer product


def _log_noise(y: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Per block, log of the mean magnitude of Immerkaer's noise operator (a second difference that
    cancels edges and ramps): camera noise and grain survive it, smoothing by the codec removes it."""
    response = cv2.sepFilter2D(y, cv2.CV_16S, NOISE_KERNEL_1D, NOISE_KERNEL_1D, borderType=cv2.BORDER_REPLICATE)
    magnitude = cv2.convertScaleAbs(response, alpha=0.25)  # /4 keeps typical responses inside uint8
    # Each block's mean magnitude, rounded half to even as OpenCV's INTER_AREA resize rounds it (the
    # figures the model was trained on): sums of 256 uint8 values fit uint16, and /256 is exact.
    per_line = cv2.transpose(magnitude.reshape(rows, BLOCK, cols * BLOCK).sum(axis=1, dtype=np.uint16))
    sums = per_line.reshape(cols, BLOCK, rows).sum(axis=1, dtype=np.uint16)
    pooled = np.rint(cv2.transpose(sums).astype(np.float32) * np.float32(1.0 / (BLOCK * BLOCK)))
    return np.log(pooled + LOG_EPS)


def _position_sums(y: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block and position (rows, cols, 16): sums of |horizontal| + |vertical| neighbour steps;
    and per block (rows, cols): counts of zero steps and of steps of at most 2 grey levels, both
    directions, at positions 0-14 (inside the block: position 15 steps into the next one)."""
    height, width = y.shape
    sums = []
    # Per pixel, both directions: (step == 0) + 64 * (step <= 2). Summed over a block's 16 lines the
    # two counts stay apart (at most 32 zero steps), and the total fits 16 bits.
    codes = []
    for axis in (1, 0):
        steps = np.empty((height, width), np.uint8)
        if axis == 1:
            cv2.absdiff(y[:, 1:], y[:, :-1], dst=steps[:, :-1])
            steps[:, -1] = 0
        else:
            cv2.absdiff(y[1:, :], y[:-1, :], dst=steps[:-1, :])
            steps[-1, :] = 0
        code = (steps == 0).view(np.uint8) + (steps <= 2).view(np.uint8) * np.uint8(64)
        if axis == 1:
            code[:, BLOCK - 1 :: BLOCK] = 0
        else:
            code[BLOCK - 1 :: BLOCK, :] = 0
            steps = cv2.transpose(steps)
        codes.append(code)
        lines, length, grid = (rows, width, cols) if axis == 1 else (cols, height, rows)
        total = steps.reshape(lines, BLOCK, length).sum(axis=1, dtype=np.uint16).reshape(lines, grid, BLOCK)
        sums.append(total if axis == 1 else total.transpose(1, 0, 2))
    counts = codes[0]
    counts += codes[1]
    per_line = cv2.transpose(counts.reshape(rows, BLOCK, width).sum(axis=1, dtype=np.uint16))  # (width, rows)
    zeros = (per_line & 63).reshape(cols, BLOCK, rows).sum(axis=1, dtype=np.uint16)
    smalls = (per_line >> 6).reshape(cols, BLOCK, rows).sum(axis=1, dtype=np.uint16)
    return sums[0].astype(np.float32) + sums[1], zeros.T.astype(np.float32), smalls.T.astype(np.float32)


@dataclass(frozen=True)
class BlockColumns:
    """Each block feature's values over a frame's blocks, as ``frame_features`` and ``frame_summary``
    both read them: computed once per frame (``block_columns``) when both are needed."""

    values: np.ndarray
    """(features, blocks) float32, one contiguous row per feature."""
    ordered: np.ndarray
    """``values`` sorted along each row."""
    means: np.ndarray
    """Each row's mean (float32)."""


def block_columns(blocks: np.ndarray) -> BlockColumns:
    """``BlockColumns`` of a frame's block features (rows, cols, len(BLOCK_FEATURES))."""
    values = _columns(blocks)
    # Sorting is faster than np.percentile's partitions on a frame's blocks. One np.partition at the
    # ten ranks read was faster on a pristine picture's blocks (0.09 against 0.14 ms), but slower on
    # a decoded frame's (0.18 ms), and estimate_quality 0.3 ms slower with it. numpy 2's vectorised
    # sort orders each row in 0.03 ms where OpenCV's took 0.09 (640x480's 1200 blocks, numpy 2.4 on
    # this VM's AVX-512 cores; the same sorted values).
    ordered = np.sort(values, axis=1)
    return BlockColumns(values=values, ordered=ordered, means=values.mean(axis=1))


def frame_features(blocks: np.ndarray, encoded_size: int, keyframe: bool, codec: str,
                   width: int, height: int, columns: BlockColumns | None = None) -> np.ndarray:
    """Frame-level features from the bitrate signal and the block features' means; ``columns``, if
    given, are ``block_columns(blocks)`` (the same figures, without computing them again)."""
    require_choice(codec, CODECS, "codec")
    bpp = 8.0 * max(int(encoded_size), 1) / float(width * height)
    log_bpp = math.log(bpp)
    names = BLOCK_FEATURES
    if columns is None:
        values = _columns(blocks)
        means = values.mean(axis=1)
        log_var_percentiles = percentiles(values[names.index("log_var")], (10, 90))
        log_noise_p10 = percentiles(values[names.index("log_noise")], (10,))
    else:  # the order statistics a partition finds are the sorted values at the same ranks
        means = columns.means
        log_var_percentiles = _sorted_percentiles(columns.ordered[names.index("log_var")], (10, 90))
        log_noise_p10 = _sorted_percentiles(columns.ordered[names.index("log_noise")], (10,))
    mean_log_var = float(means[names.index("log_var")])
    return np.array([
        log_bpp,
        1.0 if keyframe else 0.0,
        1.0 if codec == "h264" else 0.0,
        math.log(width * height),
        mean_log_var,
        float(means[names.index("blockiness4")]),
        float(means[names.index("flat_share")]),
        float(means[names.index("sharpness")]),
        log_bpp - mean_log_var,
        float(means[names.index("zero_step_share")]),
        *log_var_percentiles,
        float((blocks[:, :, names.index("flat_share")] > 0.9).mean()),
        float(means[names.index("log_high_freq")]),
        float(means[names.index("high_to_low_freq")]),
        float(means[names.index("log_noise")]),
        *log_noise_p10,
    ], dtype=np.float32)


def percentiles(values: np.ndarray, quantiles: tuple[float, ...]) -> list[float]:
    """``np.percentile(values, quantiles)`` (linear interpolation) by partial sorting: a quarter of
    the time on a frame's blocks."""
    flat = values.reshape(-1)
    points = _quantile_points(flat.size, quantiles)
    part = np.partition(flat, sorted({rank for low, high, _ in points for rank in (low, high)}))
    return [float(_between(float(part[low]), float(part[high]), fraction)) for low, high, fraction in points]


def _sorted_percentiles(ordered: np.ndarray, quantiles: tuple[float, ...]) -> list[float]:
    """``percentiles`` of values already sorted (the same floats)."""
    return [float(_between(float(ordered[low]), float(ordered[high]), fraction))
            for low, high, fraction in _quantile_points(ordered.size, quantiles)]


def _quantile_points(count: int, quantiles: tuple[float, ...]) -> list[tuple[int, int, float]]:
    """For each quantile (in percent) of ``count`` sorted values: the ranks either side of it and the
    fraction of the way between them (numpy's linear method)."""
    last = count - 1
    points = []
    for quantile in quantiles:
        position = quantile / 100.0 * last
        low = int(math.floor(position))
        points.append((low, min(low + 1, last), position - low))
    return points


def _between(a, b, fraction: float):
    """``a`` to ``b`` by ``fraction``, as numpy interpolates (exact at both ends); floats or arrays."""
    return a + (b - a) * fraction if fraction < 0.5 else b - (b - a) * (1.0 - fraction)


def frame_summary(blocks: np.ndarray, frame: np.ndarray, chroma: np.ndarray,
                  columns: BlockColumns | None = None) -> np.ndarray:
    """The frame-level model's inputs (``SUMMARY_FEATURES``): the frame features, then each block
    feature's mean, standard deviation and percentiles (``SUMMARY_PERCENTILES``, numpy's linear
    interpolation) over the frame's blocks (how the picture's detail and artefacts are spread), then
    the frame's ``chroma.chroma_features``. ``columns``, if given, are ``block_columns(blocks)``."""
    chroma = np.asarray(chroma, np.float32)
    if chroma.shape != (len(CHROMA_FEATURES),):
        raise ValueError(f"chroma features must be {len(CHROMA_FEATURES)} values, got shape {chroma.shape}")
    columns = columns if columns is not None else block_columns(blocks)
    ordered = columns.ordered
    parts = [np.asarray(frame, np.float32), columns.means, columns.values.std(axis=1)]
    for low, high, fraction in _quantile_points(ordered.shape[1], SUMMARY_PERCENTILES):
        parts.append(_between(ordered[:, low], ordered[:, high], np.float32(fraction)))
    parts.append(chroma)
    return np.concatenate(parts).astype(np.float32)


def _columns(blocks: np.ndarray) -> np.ndarray:
    """Each block feature's values over the frame's blocks, one contiguous float32 row per feature:
    numpy reduces and sorts rows several times faster than the columns of (blocks, features)."""
    return np.ascontiguousarray(blocks.reshape(-1, blocks.shape[2]).T, dtype=np.float32)


def feature_matrix(blocks: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Rows of block features followed by the frame features: (rows*cols, n_block + n_frame)."""
    flat = blocks.reshape(-1, blocks.shape[2])
    return np.concatenate([flat, np.broadcast_to(frame, (flat.shape[0], frame.shape[0]))], axis=1)
