"""Fit the compression-parameter model (one small MLP per method) and score it against the search."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import numpy as np

from ..imaging.compression_model import CANDIDATES, LOSS_OFFSET, CompressionModel, MeasuredImage, MethodModel
from ..imaging.degradation import BackgroundProfile, choose_params, degrade
from .compression_samples import CompressionSample, ImageSpec, render_image


@dataclass(frozen=True)
class CompressionFitConfig:
    """Training knobs."""

    hidden: tuple[int, ...] = (48, 24)
    max_iter: int = 800
    seed: int = 0


def fit_compression(samples: list[CompressionSample], config: CompressionFitConfig) -> CompressionModel:
    """One network per method present in ``samples``."""
    from sklearn.neural_network import MLPRegressor  # training-only dependency

    methods = {}
    record: dict = {"seed": config.seed, "hidden": list(config.hidden), "python": platform.python_version(),
                    "samples": len(samples), "per_method": {}}
    for method in sorted({s.method for s in samples}):
        chosen = [s for s in samples if s.method == method]
        x = np.array([np.append(s.features, s.position) for s in chosen], np.float64)
        y = np.log(np.array([s.loss for s in chosen]) + LOSS_OFFSET)
        mean, scale = x.mean(axis=0), 1.0 / np.maximum(x.std(axis=0), 1e-6)
        regressor = MLPRegressor(hidden_layer_sizes=config.hidden, activation="relu", alpha=1e-4, batch_size=min(256, len(chosen)),
                                 learning_rate_init=2e-3, max_iter=config.max_iter, early_stopping=True,
                                 n_iter_no_change=15, random_state=config.seed)
        started = time.perf_counter()
        regressor.fit((x - mean) * scale, y)
        methods[method] = MethodModel(mean.astype(np.float32), scale.astype(np.float32),
                                      tuple(w.astype(np.float32) for w in regressor.coefs_),
                                      tuple(b.astype(np.float32) for b in regressor.intercepts_))
        record["per_method"][method] = {"samples": len(chosen), "epochs": int(regressor.n_iter_),
                                        "fit_seconds": round(time.perf_counter() - started, 1)}
    return CompressionModel(methods, record)


def evaluate_compression(model: CompressionModel, specs: list[ImageSpec], targets_per_image: int = 4,
                         seed: int = 0, timing_images: int = 3) -> dict:
    """Achieved loss against target without a search, per method, on held-out images; and the time
    to choose a parameter for a new background with the model against the search.

    Targets are drawn from 0.01-0.15 within what the method's parameter can reach on the image (from
    its mildest to its harshest setting); beyond that no parameter can meet them, model or search."""
    rng = np.random.default_rng(seed)
    errors: dict[str, list[float]] = {m: [] for m in model.methods}
    rows = []
    model_ms, search_ms = [], []
    for index, spec in enumerate(specs):
        image = render_image(spec)
        measured = MeasuredImage.of(image)
        reference, features = measured.reference, measured.features
        for method in model.methods:
            candidates = CANDIDATES[method]
            low = max(0.01, reference.loss(degrade(image, candidates[0])))
            high = min(0.15, reference.loss(degrade(image, candidates[-1])))
            if high <= low:
                continue
            for target in rng.uniform(low, high, targets_per_image):
                params, predicted = model.choose(image, float(target), method, features)
                achieved = reference.loss(degrade(image, params))
                errors[method].append(abs(achieved - float(target)))
                rows.append({"method": method, "target": float(target), "achieved": achieved, "predicted": predicted,
                             "size": f"{spec.width}x{spec.height}"})
        if index < timing_images:
            for method in ("jpeg", "vp8"):
                if method not in model.methods:
                    continue
                started = time.perf_counter()
                model.choose(image, 0.05, method)
                model_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                choose_params(BackgroundProfile(image, method), 0.05)
                search_ms.append((time.perf_counter() - started) * 1000)
    every = [e for values in errors.values() for e in values]
    return {
        "images": len(specs), "targets": len(every),
        "median_abs_error": round(float(np.median(every)), 4),
        "p90_abs_error": round(float(np.percentile(every, 90)), 4),
        "by_method": {m: round(float(np.median(v)), 4) for m, v in errors.items()},
        "model_ms_median": round(float(np.median(model_ms)), 2) if model_ms else None,
        "search_ms_median": round(float(np.median(search_ms)), 1) if search_ms else None,
        "rows": rows,
    }
