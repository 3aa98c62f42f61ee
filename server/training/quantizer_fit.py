"""Fit the quantizer calibration (``server.imaging.quantizer_calibration``) for ``backdrop train
quantizer``.

It corrects the shipped quality model's estimate, so it is fitted on that model's estimates of
clips it never trained on: the same recipe and training sources as ``backdrop train quality``, other
draws of the clips (the quality run's seed + 20 and + 30), every 4th frame and each keyframe with
its quantizer as the receiver reads it (``encoding.CodedFrame.quantizer``). Scored on clips of the
held-out sources, before and after the correction. Refit it whenever the quality model changes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..imaging.metrics import ssim_loss
from ..imaging.quality import estimate_quality, load_model
from ..imaging.quantizer import log_step
from ..imaging.quantizer_calibration import INPUTS, QuantizerCalibration, calibration_inputs
from .encoding import encode_decode
from .quality_fit import spearman
from .quality_samples import ClipSpec, render_clip

CALIBRATION_TREES = 300
CALIBRATION_DEPTH = 4
CALIBRATION_LEARNING_RATE = 0.05
CALIBRATION_MIN_LEAF = 40
TRAINING_SEED_OFFSET = 20
"""The calibration's moving-camera clips are drawn with the quality run's seed + 20 (its fixed-camera
clips + 30, its held-out clips + 21 and + 22), so none is a clip the quality model trained on."""


@dataclass(frozen=True)
class CalibrationFrame:
    """One decoded frame: what the calibration reads, and its true loss."""

    estimate: float
    quantizer: float
    codec: str
    size: int
    keyframe: bool
    width: int
    height: int
    loss: float
    clip: str


class CalibrationLabeller:
    """Picklable: encode and decode one clip, and keep every ``every``-th frame (and each keyframe)
    with the quality model's estimate (the model at ``quality_model_path``), its quantizer and its
    true loss."""

    def __init__(self, quality_model_path: str, every: int = 4) -> None:
        self.quality_model_path, self.every = quality_model_path, every

    def __call__(self, spec: ClipSpec) -> list[CalibrationFrame]:
        cv2.setNumThreads(1)
        model = load_model(self.quality_model_path)
        pristine = render_clip(spec)
        frames = []
        for index, (original, received) in enumerate(zip(pristine, encode_decode(pristine, spec.setup))):
            kept = received.keyframe or index % self.every == self.every - 1
            if received.size == 0 or received.quantizer is None or not kept:
                continue
            estimate = estimate_quality(received.image, received.size, received.keyframe, spec.setup.codec,
                                        model=model)
            frames.append(CalibrationFrame(estimate.value, received.quantizer, spec.setup.codec, received.size,
                                           received.keyframe, spec.width, spec.height,
                                           ssim_loss(original, received.image), repr(spec)))
        return frames


def calibration_rows(frames: list[CalibrationFrame]) -> np.ndarray:
    """The trees' input rows (``quantizer_calibration.INPUTS``) of ``frames``."""
    return calibration_inputs(
        np.array([f.estimate for f in frames]), np.array([log_step(f.codec, f.quantizer) for f in frames]),
        np.array([f.size for f in frames]), np.array([f.keyframe for f in frames]),
        np.array([f.codec == "vp8" for f in frames]), np.array([f.width for f in frames]),
        np.array([f.height for f in frames]))


def fit_calibration(frames: list[CalibrationFrame], seed: int, record: dict | None = None) -> QuantizerCalibration:
    """Gradient-boosted trees (scikit-learn's ``HistGradientBoostingRegressor``, no early stopping or
    subsampling, so deterministic) from ``calibration_rows`` to the log of the frames' true loss."""
    from sklearn.ensemble import HistGradientBoostingRegressor  # training-only dependency

    from .tree_head_fit import trees_of

    if len(frames) < 2 * CALIBRATION_MIN_LEAF:
        raise ValueError(f"too few frames to fit the quantizer calibration: {len(frames)}")
    print(f"quantizer: fitting the calibration on {len(frames)} frames", file=sys.stderr, flush=True)
    regressor = HistGradientBoostingRegressor(
        learning_rate=CALIBRATION_LEARNING_RATE, max_iter=CALIBRATION_TREES, max_depth=CALIBRATION_DEPTH,
        min_samples_leaf=CALIBRATION_MIN_LEAF, l2_regularization=1.0, early_stopping=False, random_state=seed)
    losses = np.log(np.maximum(np.array([f.loss for f in frames]), 1e-6))
    regressor.fit(calibration_rows(frames), losses)
    settings = {"trees": CALIBRATION_TREES, "depth": CALIBRATION_DEPTH, "learning_rate": CALIBRATION_LEARNING_RATE,
                "min_leaf": CALIBRATION_MIN_LEAF, "inputs": list(INPUTS), "training_frames": len(frames)}
    return QuantizerCalibration(trees_of(regressor), {**(record or {}), "fit": settings})


def score_calibration(calibration: QuantizerCalibration, frames: list[CalibrationFrame]) -> dict:
    """Frame-level Spearman correlation with the true loss of the estimate alone and corrected, pooled
    and per codec, over ``frames``."""
    corrected = np.exp(calibration.trees.predict(calibration_rows(frames)))
    estimate = np.array([f.estimate for f in frames])
    truth = np.array([f.loss for f in frames])
    codecs = np.array([f.codec for f in frames])
    scores = {"frames": len(frames), "clips": len({f.clip for f in frames}),
              "estimate_spearman": round(spearman(estimate, truth), 4),
              "calibrated_spearman": round(spearman(corrected, truth), 4)}
    for codec in ("vp8", "h264"):
        mine = codecs == codec
        if mine.sum() > 2:
            scores[codec] = {"estimate_spearman": round(spearman(estimate[mine], truth[mine]), 4),
                             "calibrated_spearman": round(spearman(corrected[mine], truth[mine]), 4)}
    return scores


def quality_model_identity(path: Path) -> dict:
    """What names the quality model a calibration was fitted for: its file and its training record's
    seed and held-out score."""
    model = load_model(str(path))
    return {"path": path.name, "seed": model.record.get("seed"),
            "held_out_spearman": (model.record.get("held_out") or {}).get("frame_spearman")}
