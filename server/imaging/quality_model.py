"""The quality estimator's learned part: a small ensemble of multilayer perceptrons over block
features, in numpy.

The model file (JSON) holds the feature standardisation, each network's layer weights (ReLU hidden
layers, linear output) and the training record. Each network predicts log(loss + ``log_offset``)
(losses are skewed; the log evens the errors out) and the ensemble averages those; networks trained
from different seeds disagree most on content unlike their training data, and their average ranks
unseen content more reliably than any one of them. ``QualityModel.predict`` maps feature rows to the
predicted local loss (1 - SSIM) of each block, clipped to [0, 1].
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .features import BLOCK_FEATURES, FRAME_FEATURES
from .mlp import Network

DEFAULT_MODEL_PATH = Path(__file__).with_name("models") / "quality_model.json"
FORMAT = "backdrop-quality-mlp/3"
SINGLE_NETWORK_FORMAT = "backdrop-quality-mlp/2"
"""The earlier format (one network, its layers at the top level); still read."""
LOG_OFFSET = 0.01


@dataclass(frozen=True)
class QualityModel:
    """Standardise, run the networks, average, clip: feature rows -> predicted block loss."""

    mean: np.ndarray
    scale: np.ndarray
    networks: tuple[Network, ...]
    record: dict = field(default_factory=dict)
    log_offset: float = LOG_OFFSET

    def __post_init__(self) -> None:
        expected = len(BLOCK_FEATURES) + len(FRAME_FEATURES)
        if self.mean.shape != (expected,) or self.scale.shape != (expected,):
            raise ValueError(f"model expects {expected} features, file has {self.mean.shape}")
        if not self.networks:
            raise ValueError("a quality model needs at least one network")
        for network in self.networks:
            if network.weights[0].shape[0] != expected:
                raise ValueError(f"a network takes {network.weights[0].shape[0]} inputs, expected {expected}")
            if len(network.weights) < 2:
                raise ValueError("each network needs a hidden layer (their first layers are evaluated together)")

    @functools.cached_property
    def _first_layer(self) -> tuple[np.ndarray, np.ndarray]:
        """Every network's first layer side by side, with the standardisation folded in: one matrix
        product of the raw rows does it all."""
        weights = np.concatenate([n.weights[0] * self.scale[:, None] for n in self.networks], axis=1)
        biases = np.concatenate([n.biases[0] - (self.mean * self.scale) @ n.weights[0] for n in self.networks])
        return weights.astype(np.float32), biases.astype(np.float32)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Predicted loss per row of ``rows`` (n, n_features)."""
        weights, biases = self._first_layer
        hidden = rows.astype(np.float32, copy=False) @ weights
        hidden += biases
        np.maximum(hidden, 0.0, out=hidden)
        total = np.zeros(hidden.shape[0], np.float32)
        start = 0
        for network in self.networks:
            width = network.weights[0].shape[1]
            total += network.forward(hidden[:, start : start + width], start=1)
            start += width
        total *= 1.0 / len(self.networks)
        return np.clip(np.exp(total) - self.log_offset, 0.0, 1.0)

    def to_json(self) -> dict:
        """The JSON document ``load`` reads."""
        return {
            "format": FORMAT,
            "features": list(BLOCK_FEATURES) + list(FRAME_FEATURES),
            "mean": self.mean.tolist(), "scale": self.scale.tolist(),
            "networks": [network.to_json() for network in self.networks],
            "log_offset": self.log_offset, "record": self.record,
        }

    @staticmethod
    def from_json(document: dict) -> "QualityModel":
        """Build a model from its JSON document, checking format and feature names."""
        kind = document.get("format")
        if kind not in (FORMAT, SINGLE_NETWORK_FORMAT):
            raise ValueError(f"not a quality model file (format {kind!r}, expected {FORMAT})")
        names = list(BLOCK_FEATURES) + list(FRAME_FEATURES)
        if document.get("features") != names:
            raise ValueError("quality model was trained on other features; retrain with backdrop train quality")
        parts = [document] if kind == SINGLE_NETWORK_FORMAT else document.get("networks") or []
        return QualityModel(
            mean=np.asarray(document["mean"], np.float32), scale=np.asarray(document["scale"], np.float32),
            networks=tuple(Network.from_json(part) for part in parts), record=document.get("record", {}),
            log_offset=float(document["log_offset"]),
        )

    @staticmethod
    def load(path: str | Path = DEFAULT_MODEL_PATH) -> "QualityModel":
        """Read a model file."""
        with open(path, encoding="utf-8") as handle:
            return QualityModel.from_json(json.load(handle))
