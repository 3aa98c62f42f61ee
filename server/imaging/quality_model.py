"""The quality estimator's learned part: a small multilayer perceptron over block features, in numpy.

The model file (JSON) holds the feature standardisation, the layer weights (ReLU hidden layers,
linear output) and the training record. The network predicts log(loss + ``log_offset``) (losses are
skewed; the log evens the errors out); ``QualityModel.predict`` maps feature rows to the predicted
local loss (1 - SSIM) of each block, clipped to [0, 1].
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .features import BLOCK_FEATURES, FRAME_FEATURES
from .mlp import layers_from_json, layers_to_json, mlp_forward

DEFAULT_MODEL_PATH = Path(__file__).with_name("models") / "quality_model.json"
FORMAT = "backdrop-quality-mlp/2"
LOG_OFFSET = 0.01


@dataclass(frozen=True)
class QualityModel:
    """Standardise, run the MLP, clip: feature rows -> predicted block loss."""

    mean: np.ndarray
    scale: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    record: dict = field(default_factory=dict)
    log_offset: float = LOG_OFFSET

    def __post_init__(self) -> None:
        expected = len(BLOCK_FEATURES) + len(FRAME_FEATURES)
        if self.mean.shape != (expected,) or self.scale.shape != (expected,):
            raise ValueError(f"model expects {expected} features, file has {self.mean.shape}")
        if len(self.weights) != len(self.biases) or not self.weights:
            raise ValueError("model needs as many bias vectors as weight matrices, at least one")

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Predicted loss per row of ``rows`` (n, n_features)."""
        output = mlp_forward(rows, self.mean, self.scale, self.weights, self.biases)
        return np.clip(np.exp(output) - self.log_offset, 0.0, 1.0)

    def to_json(self) -> dict:
        """The JSON document ``load`` reads."""
        return {
            "format": FORMAT,
            "features": list(BLOCK_FEATURES) + list(FRAME_FEATURES),
            "mean": self.mean.tolist(), "scale": self.scale.tolist(), **layers_to_json(self.weights, self.biases),
            "log_offset": self.log_offset, "record": self.record,
        }

    @staticmethod
    def from_json(document: dict) -> "QualityModel":
        """Build a model from its JSON document, checking format and feature names."""
        if document.get("format") != FORMAT:
            raise ValueError(f"not a quality model file (format {document.get('format')!r}, expected {FORMAT})")
        names = list(BLOCK_FEATURES) + list(FRAME_FEATURES)
        if document.get("features") != names:
            raise ValueError("quality model was trained on other features; retrain with backdrop train quality")
        weights, biases = layers_from_json(document)
        return QualityModel(
            mean=np.asarray(document["mean"], np.float32), scale=np.asarray(document["scale"], np.float32),
            weights=weights, biases=biases, record=document.get("record", {}),
            log_offset=float(document["log_offset"]),
        )

    @staticmethod
    def load(path: str | Path = DEFAULT_MODEL_PATH) -> "QualityModel":
        """Read a model file."""
        with open(path, encoding="utf-8") as handle:
            return QualityModel.from_json(json.load(handle))
