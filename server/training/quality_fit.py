"""Fit the quality estimator's MLP on labelled frames and score it on held-out ones."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import numpy as np

from ..imaging.features import FRAME_FEATURES
from ..imaging.mlp import Network
from ..imaging.quality_model import LOG_OFFSET, QualityModel
from .quality_samples import FrameSample


@dataclass(frozen=True)
class FitConfig:
    """Training knobs."""

    hidden: tuple[int, ...] = (32, 16)
    blocks_per_frame: int = 120
    max_iter: int = 60
    alpha: float = 1e-3
    """L2 penalty: 1e-3 ranked held-out content a little better than 1e-4 and 1e-2 did."""
    networks: int = 3
    """Ensemble size: network k draws its blocks and its initial weights from seed + k."""
    seed: int = 0


def _training_rows(samples: list[FrameSample], blocks_per_frame: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``blocks_per_frame`` random blocks of each frame: feature rows and true block losses."""
    rng = np.random.default_rng(seed)
    rows, targets = [], []
    for sample in samples:
        count = sample.features.shape[0]
        pick = rng.choice(count, size=min(count, blocks_per_frame), replace=False)
        rows.append(sample.features[pick])
        targets.append(sample.block_loss.reshape(-1)[pick])
    return np.concatenate(rows).astype(np.float64), np.concatenate(targets).astype(np.float64)


def fit(samples: list[FrameSample], config: FitConfig) -> QualityModel:
    """Train the ensemble of block-loss MLPs, each on its own subsample of each frame's blocks."""
    from sklearn.neural_network import MLPRegressor  # training-only dependency

    if config.networks < 1:
        raise ValueError(f"networks must be at least 1, got {config.networks}")
    mean = scale = None
    networks, epochs, rows_used = [], [], 0
    started = time.perf_counter()
    for member in range(config.networks):
        seed = config.seed + member
        x, y = _training_rows(samples, config.blocks_per_frame, seed)
        if mean is None:
            mean = x.mean(axis=0)
            scale = 1.0 / np.maximum(x.std(axis=0), 1e-6)
        regressor = MLPRegressor(hidden_layer_sizes=config.hidden, activation="relu", alpha=config.alpha,
                                 batch_size=512, learning_rate_init=2e-3, max_iter=config.max_iter,
                                 early_stopping=True, n_iter_no_change=6, random_state=seed, verbose=False)
        regressor.fit((x - mean) * scale, np.log(y + LOG_OFFSET))
        networks.append(Network(tuple(w.astype(np.float32) for w in regressor.coefs_),
                                tuple(b.astype(np.float32) for b in regressor.intercepts_)))
        epochs.append(int(regressor.n_iter_))
        rows_used = int(x.shape[0])
    record = {"training_rows": rows_used, "training_frames": len(samples), "seed": config.seed,
              "networks": config.networks, "hidden": list(config.hidden), "alpha": config.alpha, "epochs": epochs,
              "fit_seconds": round(time.perf_counter() - started, 1), "python": platform.python_version()}
    return QualityModel(mean=mean.astype(np.float32), scale=scale.astype(np.float32), networks=tuple(networks),
                        record=record, log_offset=LOG_OFFSET)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    if len(a) < 3:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def evaluate(model: QualityModel, samples: list[FrameSample]) -> dict:
    """Frame- and block-level agreement of the model with the true loss on ``samples``."""
    matrices = [model.predict(s.features) for s in samples]
    predicted = np.array([float(matrix.mean()) for matrix in matrices])
    truth = np.array([s.frame_loss for s in samples])
    bpp = np.array([s.features[0, -len(FRAME_FEATURES)] for s in samples])
    block_rho = [spearman(matrix, s.block_loss.reshape(-1)) for matrix, s in zip(matrices, samples)]
    report: dict = {
        "frames": len(samples),
        "frame_spearman": spearman(predicted, truth),
        "frame_pearson": float(np.corrcoef(predicted, truth)[0, 1]),
        "bpp_only_spearman": spearman(-bpp, truth),
        "median_abs_error": float(np.median(np.abs(predicted - truth))),
        "block_spearman_median": float(np.nanmedian(block_rho)),
    }
    groupings = {
        "by_sender": ["realtime" if s.spec.setup.realtime else "file" for s in samples],
        "by_camera": [s.spec.camera for s in samples],
        "by_codec": [s.spec.setup.codec for s in samples],
        "by_resolution": [f"{s.spec.width}x{s.spec.height}" for s in samples],
    }
    for group, labels in groupings.items():
        names = np.array(labels)
        report[group] = {name: spearman(predicted[names == name], truth[names == name])
                         for name in sorted(set(labels), key=lambda n: (len(n), n)) if (names == name).sum() > 2}
    return {key: (round(value, 4) if isinstance(value, float) else value) for key, value in report.items()}
