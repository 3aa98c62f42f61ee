"""The compression-parameter model: from a background's own features and a target loss straight to
the degradation parameter, without a search.

For each method a small MLP predicts log(1 - SSIM + ``LOSS_OFFSET``) of the image degraded at a
parameter, from the image's features (texture, detail, flatness, size) and the parameter's position
on the method's scale (0 = mildest, 1 = harshest). ``CompressionModel.choose`` evaluates every
candidate parameter of the method (a few dozen rows: microseconds) and takes the one whose predicted
loss is closest to the target. The search of ``degradation.choose_params`` stays the reference:
callers measure the loss of the chosen parameter once and fall back to the search when it misses.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .degradation import MATCH_METHODS, DegradationParams, degrade
from .metrics import SsimReference, luma
from .mlp import float32_lists, layers_from_json, layers_to_json, mlp_forward
from .validation import require_bgr_image, require_choice

DEFAULT_MODEL_PATH = Path(__file__).with_name("models") / "compression_model.json"
FORMAT = "backdrop-compression-mlp/1"
LOSS_OFFSET = 0.002
IMAGE_FEATURES: tuple[str, ...] = (
    "log_pixels", "mean_log_var", "p10_log_var", "p50_log_var", "p90_log_var", "flat_share",
    "log_gradient", "log_detail", "detail_share", "log_mean_luma",
)


def _candidates(method: str) -> list[DegradationParams]:
    """Every parameter a method may use, mildest first."""
    if method in ("jpeg", "webp"):
        return [DegradationParams(method=method, parameter=q) for q in range(100, 0, -1)]
    if method == "vp8":
        return [DegradationParams(method=method, parameter=q) for q in range(0, 64)]
    if method == "h264":
        return [DegradationParams(method=method, parameter=q) for q in range(10, 52)]
    if method == "blur":
        return [DegradationParams(blur_sigma=float(s)) for s in np.geomspace(0.2, 24.0, 64)]
    return [DegradationParams(scale=float(s)) for s in np.geomspace(1.0, 0.05, 64)[1:]]


CANDIDATES: dict[str, list[DegradationParams]] = {method: _candidates(method) for method in MATCH_METHODS}
"""Per method, the parameters the model chooses among, mildest first."""


def image_features(image_bgr: np.ndarray) -> np.ndarray:
    """The features of a background (at the size it is shown) that the model reads."""
    require_bgr_image(image_bgr, "image")
    y = luma(image_bgr)
    height, width = y.shape
    rows, cols = max(1, height // 8), max(1, width // 8)
    crop = y[: rows * 8, : cols * 8]
    mean8 = cv2.resize(crop, (cols, rows), interpolation=cv2.INTER_AREA)
    sq8 = cv2.resize(crop * crop, (cols, rows), interpolation=cv2.INTER_AREA)
    log_var = np.log1p(np.maximum(sq8 - mean8 * mean8, 0.0))
    gx, gy = cv2.Sobel(y, cv2.CV_32F, 1, 0), cv2.Sobel(y, cv2.CV_32F, 0, 1)
    detail = y - cv2.GaussianBlur(y, (0, 0), 1.0)
    total_var = float(y.var()) + 1e-3
    return np.array([
        np.log(width * height),
        float(log_var.mean()), *np.percentile(log_var, (10, 50, 90)).tolist(),
        float((log_var < np.log1p(2.0)).mean()),
        float(np.log1p(np.abs(gx).mean() + np.abs(gy).mean())),
        float(np.log1p((detail * detail).mean())),
        float((detail * detail).mean() / total_var),
        float(np.log(y.mean() + 8.0)),
    ], dtype=np.float32)


@dataclass(frozen=True)
class MeasuredImage:
    """An image measured once for choosing and checking its degradations."""

    reference: SsimReference
    """Its luma's SSIM statistics: the loss of any degraded version of it."""
    features: np.ndarray
    """``image_features`` of it: the model's view of its content."""

    @staticmethod
    def of(image_bgr: np.ndarray) -> "MeasuredImage":
        """Measure ``image_bgr``."""
        return MeasuredImage(SsimReference(luma(image_bgr)), image_features(image_bgr))


@dataclass(frozen=True)
class MethodModel:
    """One method's network: [image features, parameter position] -> log(loss + offset)."""

    mean: np.ndarray
    scale: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def loss_curve(self, features: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Predicted loss at each parameter position (0..1) for an image with ``features``."""
        rows = np.concatenate([np.broadcast_to(features, (len(positions), len(features))),
                               positions[:, None].astype(np.float32)], axis=1)
        return np.exp(mlp_forward(rows, self.mean, self.scale, self.weights, self.biases)) - LOSS_OFFSET


@dataclass(frozen=True)
class CompressionModel:
    """Per-method networks; ``choose`` picks a parameter for a target loss."""

    methods: dict[str, MethodModel]
    record: dict = field(default_factory=dict)

    def choose(self, image_bgr: np.ndarray, target: float, method: str,
               features: np.ndarray | None = None) -> tuple[DegradationParams, float]:
        """The parameter whose predicted loss on ``image_bgr`` is closest to ``target``, and that
        predicted loss. ``features``: ``image_features(image_bgr)`` if already computed."""
        require_choice(method, tuple(self.methods), "method with a compression model")
        if features is None:
            features = image_features(image_bgr)
        candidates = CANDIDATES[method]
        positions = np.linspace(0.0, 1.0, len(candidates), dtype=np.float32)
        curve = self.methods[method].loss_curve(features, positions)
        best = int(np.argmin(np.abs(curve - float(target))))
        return candidates[best], float(curve[best])

    def match(self, image_bgr: np.ndarray, target: float, method: str, measured: MeasuredImage, tolerance: float,
              attempts: int = 2) -> tuple[DegradationParams, np.ndarray, float] | None:
        """The model's choice for ``target``, applied and measured: (parameters, degraded image,
        measured loss) once the loss lands within ``tolerance`` of the target, else None (search).
        A miss is retried once with the target shifted by the model's measured bias on this image."""
        if method not in self.methods:
            return None
        aim = float(target)
        for _ in range(attempts):
            params, predicted = self.choose(image_bgr, aim, method, measured.features)
            image = degrade(image_bgr, params)
            loss = measured.reference.loss(image)
            if abs(loss - target) <= tolerance:
                return params, image, loss
            aim = max(0.0, aim + (predicted - loss))
        return None

    def to_json(self) -> dict:
        """The JSON document ``load`` reads."""
        return {"format": FORMAT, "features": list(IMAGE_FEATURES), "loss_offset": LOSS_OFFSET, "record": self.record,
                "methods": {name: {"mean": float32_lists(m.mean), "scale": float32_lists(m.scale),
                                   **layers_to_json(m.weights, m.biases)} for name, m in self.methods.items()}}

    @staticmethod
    def from_json(document: dict) -> "CompressionModel":
        """Build a model from its JSON document, checking format and features."""
        if document.get("format") != FORMAT:
            raise ValueError(f"not a compression model file (format {document.get('format')!r}, expected {FORMAT})")
        if document.get("features") != list(IMAGE_FEATURES):
            raise ValueError("compression model was trained on other features; retrain with backdrop train compression")
        methods = {}
        for name, part in document["methods"].items():
            require_choice(name, MATCH_METHODS, "method")
            weights, biases = layers_from_json(part)
            methods[name] = MethodModel(np.asarray(part["mean"], np.float32), np.asarray(part["scale"], np.float32),
                                        weights, biases)
        return CompressionModel(methods, document.get("record", {}))

    @staticmethod
    def load(path: str | Path = DEFAULT_MODEL_PATH) -> "CompressionModel":
        """Read a model file."""
        with open(path, encoding="utf-8") as handle:
            return CompressionModel.from_json(json.load(handle))


@functools.lru_cache(maxsize=4)
def load_compression_model(path: str = str(DEFAULT_MODEL_PATH)) -> CompressionModel | None:
    """The shipped compression model, read once per process; None when there is none (the search is
    used instead)."""
    if not Path(path).is_file():
        return None
    return CompressionModel.load(path)
