"""Fit the quality estimator's MLP on labelled frames and score it on held-out ones."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import numpy as np

from ..imaging.features import FRAME_FEATURES
from ..imaging.quality_model import LOG_OFFSET, QualityModel
from .quality_samples import FrameSample


@dataclass(frozen=True)
class FitConfig:
    """Training knobs."""

    hidden: tuple[int, ...] = (32, 16)
    blocks_per_frame: int = 120
    max_iter: int = 60
    seed: int = 0


def fit(samples: list[FrameSample], config: FitConfig) -> QualityModel:
    """Train the block-loss MLP on a subsample of each frame's blocks."""
    from sklearn.neural_network import MLPRegressor  # training-only dependency

    rng = np.random.default_rng(config.seed)
    rows, targets = [], []
    for sample in samples:
        count = sample.features.shape[0]
        pick = rng.choice(count, size=min(count, config.blocks_per_frame), replace=False)
        rows.append(sample.features[pick])
        targets.append(sample.block_loss.reshape(-1)[pick])
    x = np.concatenate(rows).astype(np.float64)
    y = np.concatenate(targets).astype(np.float64)
    mean = x.mean(axis=0)
    scale = 1.0 / np.maximum(x.std(axis=0), 1e-6)
    regressor = MLPRegressor(hidden_layer_sizes=config.hidden, activation="relu", alpha=1e-4, batch_size=512,
                             learning_rate_init=2e-3, max_iter=config.max_iter, early_stopping=True,
                             n_iter_no_change=6, random_state=config.seed, verbose=False)
    started = time.perf_counter()
    regressor.fit((x - mean) * scale, np.log(y + LOG_OFFSET))
    record = {"training_rows": int(x.shape[0]), "training_frames": len(samples), "seed": config.seed,
              "hidden": list(config.hidden), "epochs": int(regressor.n_iter_),
              "fit_seconds": round(time.perf_counter() - started, 1), "python": platform.python_version()}
    return QualityModel(mean=mean.astype(np.float32), scale=scale.astype(np.float32),
                        weights=tuple(w.astype(np.float32) for w in regressor.coefs_),
                        biases=tuple(b.astype(np.float32) for b in regressor.intercepts_), record=record,
                        log_offset=LOG_OFFSET)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    if len(a) < 3:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def evaluate(model: QualityModel, samples: list[FrameSample]) -> dict:
    """Frame- and block-level agreement of the model with the true loss on ``samples``."""
    predicted = np.array([float(model.predict(s.features).mean()) for s in samples])
    truth = np.array([s.frame_loss for s in samples])
    bpp = np.array([s.features[0, -len(FRAME_FEATURES)] for s in samples])
    block_rho = [spearman(model.predict(s.features), s.block_loss.reshape(-1)) for s in samples]
    report: dict = {
        "frames": len(samples),
        "frame_spearman": spearman(predicted, truth),
        "frame_pearson": float(np.corrcoef(predicted, truth)[0, 1]),
        "bpp_only_spearman": spearman(-bpp, truth),
        "median_abs_error": float(np.median(np.abs(predicted - truth))),
        "block_spearman_median": float(np.nanmedian(block_rho)),
        "by_codec": {}, "by_resolution": {},
    }
    for codec in ("vp8", "h264"):
        mask = np.array([s.spec.setup.codec == codec for s in samples])
        if mask.sum() > 2:
            report["by_codec"][codec] = spearman(predicted[mask], truth[mask])
    for size in sorted({(s.spec.width, s.spec.height) for s in samples}):
        mask = np.array([(s.spec.width, s.spec.height) == size for s in samples])
        if mask.sum() > 2:
            report["by_resolution"][f"{size[0]}x{size[1]}"] = spearman(predicted[mask], truth[mask])
    return {key: (round(value, 4) if isinstance(value, float) else value) for key, value in report.items()}
