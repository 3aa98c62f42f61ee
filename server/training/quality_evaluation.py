"""Score the quality estimator on decoded frames (every frame of each clip) against the true loss,
frame by frame and block by block: ``estimate_quality`` alone, and the ``QualityTracker`` that the
server runs over each stream; and the estimate corrected by each frame's quantizer
(``imaging.quantizer_calibration``), as the server has it from the bitstream."""

from __future__ import annotations

import math
import time
from pathlib import Path

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from ..imaging.features import BLOCK, frame_luma_u8
from ..imaging.metrics import block_loss_map, ssim_loss
from ..imaging.quality import QualityTracker, estimate_quality, load_model
from ..imaging.quality_model import QualityModel
from ..imaging.quantizer_calibration import QuantizerCalibration, load_calibration
from .encoding import EncoderSetup, encode_decode
from .footage import load_still
from .quality_fit import spearman
from .quality_samples import ClipSpec, render_clip

PROTOCOL_BITRATES = (80_000, 200_000, 500_000, 1_200_000, 3_000_000, 5_000_000)
"""The issues' bitrate range, 80 kbps to 5 Mbps, in the steps the probes of ``scripts/`` encode at."""
PROTOCOL_SIZES = ((320, 240), (640, 480), (1280, 720))
"""The issues' frame sizes, 320x240 to 1280x720, as the probes of ``scripts/`` resize to them."""


def present_calibration(path: str | Path | None) -> str | None:
    """``path`` as the scorers take it when a quantizer calibration file is there, else None (the
    corrected figures are then left out)."""
    return str(path) if path and Path(path).is_file() else None


class QualityScorer:
    """Picklable: render, encode and score one clip with the model at ``model_path`` (and the
    quantizer calibration at ``calibration_path``, if any)."""

    def __init__(self, model_path: str, calibration_path: str | None = None) -> None:
        self.model_path, self.calibration_path = model_path, calibration_path

    def __call__(self, spec: ClipSpec) -> list[dict]:
        labels = {"clip": repr(spec),  # not spec.seed: the real-time and file-style draws repeat the seeds
                  "size": f"{spec.width}x{spec.height}", "camera": spec.camera}
        calibration = load_calibration(self.calibration_path) if self.calibration_path else None
        return score_clip(render_clip(spec), spec.setup, load_model(self.model_path), labels, calibration)


def score_clip(frames: list[np.ndarray], setup: EncoderSetup, model: QualityModel, labels: dict,
               calibration: QuantizerCalibration | None = None) -> list[dict]:
    """Encode ``frames`` with ``setup``, decode them, and score every received frame: its own
    ``estimate_quality``, the ``QualityTracker``'s, bits per pixel and block-level Spearman against
    the true loss; with a quantizer ``calibration``, also the estimate it corrects with the frame's
    quantizer (``calibrated``) and a tracker fed the quantizers, as the server runs it
    (``calibrated_tracked``). Each row carries ``labels`` (at least ``clip``, ``size`` and
    ``camera``)."""
    tracker = QualityTracker(setup.codec, model=model)
    calibrated_tracker = QualityTracker(setup.codec, model=model, calibration=calibration) if calibration else None
    rows = []
    for index, (original, received) in enumerate(zip(frames, encode_decode(frames, setup))):
        if received.size == 0:
            continue
        tracked = tracker.update(received.image, received.size, received.keyframe)
        estimate = tracker.frame_estimate  # the frame's own estimate_quality, scored once
        assert estimate is not None
        truth_blocks = block_loss_map(frame_luma_u8(original).astype(np.float32),
                                      frame_luma_u8(received.image).astype(np.float32), BLOCK)
        rows.append({**labels, "codec": setup.codec, "sender": "realtime" if setup.realtime else "file",
                     "bitrate": setup.bitrate, "fps": setup.fps, "keyframe": received.keyframe, "index": index,
                     "truth": ssim_loss(original, received.image), "estimate": estimate.value,
                     "tracked": tracked.value, "bpp": estimate.bpp,
                     "block_spearman": _block_spearman(estimate.matrix, truth_blocks)})
        if calibration is not None and calibrated_tracker is not None and received.quantizer is not None:
            height, width = received.image.shape[:2]
            rows[-1]["calibrated"] = calibration.calibrate(estimate.value, received.quantizer, setup.codec,
                                                           received.size, received.keyframe, width, height)
            rows[-1]["calibrated_tracked"] = calibrated_tracker.update(
                received.image, received.size, received.keyframe, received.quantizer).value
    return rows


def _block_spearman(matrix: np.ndarray, truth_blocks: np.ndarray) -> float:
    """Spearman correlation of a frame's estimated and true loss per block (``quality_fit.spearman``:
    NaN where either has no spread, which the summary's median skips)."""
    return spearman(matrix.reshape(-1), truth_blocks.reshape(-1))


def _correlations(estimate: np.ndarray, truth: np.ndarray) -> dict:
    from scipy.stats import pearsonr, spearmanr

    if len(truth) < 3:
        return {"frames": int(len(truth)), "spearman": float("nan"), "pearson": float("nan")}
    return {"frames": int(len(truth)), "spearman": round(float(spearmanr(estimate, truth).statistic), 4),
            "pearson": round(float(pearsonr(estimate, truth).statistic), 4)}


def _grouped(rows: list[dict], key: str, estimate: np.ndarray, truth: np.ndarray) -> dict:
    """``_correlations`` of ``estimate`` with ``truth`` within each value of ``rows``' ``key``."""
    groups = {}
    for name in sorted({r[key] for r in rows}, key=lambda n: (len(n), n)):
        mask = np.array([r[key] == name for r in rows])
        groups[name] = _correlations(estimate[mask], truth[mask])
    return groups


def clip_bootstrap_interval(estimate: np.ndarray, truth: np.ndarray, clips: list[str], resamples: int = 1000,
                            level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """The central ``level`` interval of the Spearman correlation of ``estimate`` with ``truth`` when
    the clips are drawn again with replacement, ``resamples`` times: how much the figure depends on
    which clips the held-out draw happened to hold. Whole clips are the unit, since a clip's frames
    are far from independent."""
    from scipy.stats import rankdata

    names, owner = np.unique(np.asarray(clips), return_inverse=True)
    members = [np.flatnonzero(owner == position) for position in range(len(names))]
    rng = np.random.default_rng(seed)
    figures = []
    for _ in range(resamples):
        frames = np.concatenate([members[i] for i in rng.integers(0, len(names), len(names))])
        figures.append(np.corrcoef(rankdata(estimate[frames]), rankdata(truth[frames]))[0, 1])
    low, high = np.nanpercentile(figures, [50 * (1 - level), 50 * (1 + level)])
    return round(float(low), 4), round(float(high), 4)


def bitrate_slopes(rows: list[dict]) -> tuple[float, float]:
    """How fast loss falls as bits rise: for each series of clips that differ only in bitrate (one
    video, size, codec and sender), the least-squares slope of the clips' mean log true loss, and of
    their mean log estimate, against log bitrate; the medians of both over the series."""
    by_clip: dict[tuple, list[dict]] = {}
    for row in rows:
        by_clip.setdefault((row["video"], row["size"], row["codec"], row["sender"], row["bitrate"]), []).append(row)
    series: dict[tuple, list[tuple[float, float, float]]] = {}
    for (*key, bitrate), members in by_clip.items():
        series.setdefault(tuple(key), []).append((
            np.log(bitrate), np.mean([np.log(max(row["truth"], 1e-6)) for row in members]),
            np.mean([np.log(max(row["estimate"], 1e-6)) for row in members])))
    slopes = [(np.polyfit(points[:, 0], points[:, 1], 1)[0], np.polyfit(points[:, 0], points[:, 2], 1)[0])
              for points in (np.array(clips) for clips in series.values() if len(clips) >= 3)]
    if not slopes:
        raise ValueError("no video, size, codec and sender was scored at three bitrates or more")
    truth, estimate = np.median(np.array(slopes), axis=0)
    return float(truth), float(estimate)


def nominal_bits_per_pixel(rows: list[dict]) -> np.ndarray:
    """Each frame's bits per pixel as its stream's setting gives them: the bitrate over the pixels sent
    per second (``size`` and ``fps``), the same for every frame of a stream. It is the figure a tester
    who knows the encoder's setting but not each frame's size would rank frames by."""
    return np.array([row["bitrate"] / (math.prod(int(side) for side in row["size"].split("x")) * row["fps"])
                     for row in rows], dtype=np.float64)


def summarise(rows: list[dict]) -> dict:
    """Pooled (with ``clip_bootstrap_interval``), per-sender, per-camera, per-codec and per-resolution
    correlations of the frame's own estimate, the tracker's (``tracker`` keys), the bits-per-pixel
    baselines (each frame's own, and its stream's nominal: ``nominal_bits_per_pixel``), block level."""
    from scipy.stats import spearmanr

    truth = np.array([r["truth"] for r in rows])
    estimate = np.array([r["estimate"] for r in rows])
    tracked = np.array([r["tracked"] for r in rows])
    return {**_correlations(estimate, truth),
            "spearman_interval": clip_bootstrap_interval(estimate, truth, [r["clip"] for r in rows]),
            "tracker": _correlations(tracked, truth), "tracker_by_camera": _grouped(rows, "camera", tracked, truth),
            "bpp_spearman": round(float(spearmanr(-np.array([r["bpp"] for r in rows]), truth).statistic), 4),
            "nominal_bpp_spearman": round(float(spearmanr(-nominal_bits_per_pixel(rows), truth).statistic), 4),
            "block_spearman_median": round(float(np.nanmedian([r["block_spearman"] for r in rows])), 4),
            "median_abs_error": round(float(np.median(np.abs(estimate - truth))), 4),
            **{group: _grouped(rows, key, estimate, truth) for group, key in (
                ("by_sender", "sender"), ("by_camera", "camera"), ("by_codec", "codec"), ("by_resolution", "size"))},
            **_calibrated_summary(rows, truth)}


def _calibrated_summary(rows: list[dict], truth: np.ndarray) -> dict:
    """The quantizer-calibrated estimate's correlations (``calibrated``, ``calibrated_by_codec``),
    when every row has one; else nothing."""
    if not rows or not all("calibrated" in row for row in rows):
        return {}
    calibrated = np.array([row["calibrated"] for row in rows])
    return {"calibrated": _correlations(calibrated, truth),
            "calibrated_interval": clip_bootstrap_interval(calibrated, truth, [r["clip"] for r in rows]),
            "calibrated_by_codec": _grouped(rows, "codec", calibrated, truth),
            "calibrated_tracker": _correlations(np.array([row["calibrated_tracked"] for row in rows]), truth)}


def timing_ms(model_path: str, repeats: int = 200) -> float:
    """Median milliseconds of ``estimate_quality`` on a 640x480 VP8 frame, one thread: OpenCV's and
    the BLAS library's (numpy's matrix products) both limited to one, as in the server's workers
    (``pipeline.pool``) and ``scripts/bench_imaging.py``."""
    cv2.setNumThreads(1)
    model = load_model(model_path)
    image = cv2.resize(load_still("astronaut"), (640, 480))
    frame = encode_decode([image] * 3, EncoderSetup("vp8", 500_000, "-6"))[-1]
    times = []
    with threadpool_limits(limits=1):
        for _ in range(repeats):
            started = time.perf_counter()
            estimate_quality(frame.image, frame.size, frame.keyframe, "vp8", model=model)
            times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)
