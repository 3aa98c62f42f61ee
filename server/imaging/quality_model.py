"""The quality estimator's learned part: a small ensemble of multilayer perceptrons over block
features, in numpy.

The model file (JSON) holds the feature standardisation, each network's layer weights (ReLU hidden
layers, linear output) and the training record. Each network predicts log(loss + ``log_offset``)
(losses are skewed; the log evens the errors out) and the ensemble averages those; networks trained
from different seeds disagree most on content unlike their training data, and their average ranks
unseen content more reliably than any one of them. ``QualityModel.predict`` maps feature rows to the
predicted local loss (1 - SSIM) of each block, clipped to [0, 1].

A second, frame-level ensemble (``FrameHead``) predicts the frame's loss from a summary of its
blocks (``features.frame_summary``), trained on the frames' true loss itself: networks and, since
format /5, gradient-boosted trees (``tree_ensemble``) averaged with them; since format /6, keyframes
may walk trees of their own (an intra frame's size and pixels relate to its loss otherwise than an
inter frame's do); since format /7, the summary ends with the frame's chroma features, which heads
of earlier formats do not read. ``QualityModel.estimate`` blends its estimate with the mean of the
block predictions and rescales the block matrix to that mean: the blocks say where the loss is, the
head how large it is over the frame.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .features import (
    BLOCK_FEATURES, FRAME_FEATURES, LUMA_SUMMARY_FEATURES, SUMMARY_FEATURES, BlockColumns, frame_summary)
from .mlp import Network, float32_lists
from .tree_ensemble import TreeEnsemble

DEFAULT_MODEL_PATH = Path(__file__).with_name("models") / "quality_model.json"
FORMAT = "backdrop-quality-mlp/7"
SINGLE_NETWORK_FORMAT = "backdrop-quality-mlp/2"
EARLIER_FORMATS = (
    "backdrop-quality-mlp/6", "backdrop-quality-mlp/5", "backdrop-quality-mlp/4", "backdrop-quality-mlp/3",
    SINGLE_NETWORK_FORMAT)
"""Formats still read: /6 has a frame head without the chroma features (``LUMA_SUMMARY_FEATURES``), /5
one set of trees for every frame as well, /4 a frame head of networks only, /3 is an ensemble without
a frame head, /2 one network with its layers at the top level."""
HEAD_INPUTS = (len(SUMMARY_FEATURES), len(LUMA_SUMMARY_FEATURES))
"""The summaries a frame head may read: the whole (format /7) or its luma part (earlier formats), a
prefix of the whole."""
SUMMARY_KEYFRAME = SUMMARY_FEATURES.index("keyframe")
"""The summary's keyframe flag: which of a head's trees a frame walks."""
LOG_OFFSET = 0.01
FRAME_LOG_OFFSET = 0.001
"""The frame head predicts log(frame loss + this): frame losses of good encodes are ~0.002-0.01.
Heads fitted with 0.0001, 0.0003 and 0.003 instead (the seed-8 training data, networks and trees
refitted) ranked the real-footage probe's frames at 0.895 / 0.900 / 0.896 and the training record's
held-out frames at 0.909 / 0.905 / 0.908, against 0.898 and 0.913 refitted with this: no gain."""


def _check_ensemble(kind: str, mean: np.ndarray, scale: np.ndarray, networks: tuple[Network, ...],
                    expected: int) -> None:
    """Raise ValueError unless ``networks`` (at least one) and the standardisation all take ``expected``
    inputs; ``kind`` names the ensemble in the message."""
    if mean.shape != (expected,) or scale.shape != (expected,):
        raise ValueError(f"{kind} expects {expected} features, file has {mean.shape}")
    if not networks:
        raise ValueError(f"a {kind} needs at least one network")
    for network in networks:
        if network.weights[0].shape[0] != expected:
            raise ValueError(f"a {kind} network takes {network.weights[0].shape[0]} inputs, expected {expected}")


def _ensemble_log(networks: tuple[Network, ...], standardised: np.ndarray) -> np.ndarray:
    """The networks' mean output for each standardised row."""
    return sum(network.forward(standardised) for network in networks) / len(networks)


@dataclass(frozen=True)
class FrameHead:
    """The frame-level ensemble: ``frame_summary`` -> log(frame loss + ``log_offset``), blended with
    the block predictions' mean with ``weight`` (1: the head alone). With ``trees``, the head's log
    estimate is theirs with ``tree_share`` and the networks' with the rest; with ``keyframe_trees``
    as well, a keyframe's trees are those and ``trees`` score inter frames only. A head reads the
    first ``inputs`` summary features (``HEAD_INPUTS``)."""

    mean: np.ndarray
    scale: np.ndarray
    networks: tuple[Network, ...]
    weight: float
    log_offset: float = FRAME_LOG_OFFSET
    trees: TreeEnsemble | None = None
    """Gradient-boosted trees on the raw (unstandardised) summary; None in files before format /5."""
    tree_share: float = 0.0
    keyframe_trees: TreeEnsemble | None = None
    """Trees for keyframes (summary feature ``keyframe`` set); None in files before format /6 and
    when ``trees`` score every frame."""

    def __post_init__(self) -> None:
        if self.mean.ndim != 1 or self.mean.shape[0] not in HEAD_INPUTS:
            raise ValueError(f"a frame head reads {' or '.join(map(str, HEAD_INPUTS))} summary features, "
                             f"file has {self.mean.shape}")
        _check_ensemble("frame head", self.mean, self.scale, self.networks, self.inputs)
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"frame head weight must be in [0, 1], got {self.weight}")
        if not 0.0 <= self.tree_share <= 1.0:
            raise ValueError(f"frame head tree share must be in [0, 1], got {self.tree_share}")
        if self.tree_share > 0.0 and self.trees is None:
            raise ValueError("a frame head with a tree share needs its trees")
        for trees in (self.trees, self.keyframe_trees):
            if trees is not None and trees.inputs != self.inputs:
                raise ValueError(f"frame head trees take {trees.inputs} inputs, expected {self.inputs}")
        if self.keyframe_trees is not None and self.trees is None:
            raise ValueError("a frame head with keyframe trees needs trees for the other frames")

    @property
    def inputs(self) -> int:
        """How many of the summary's features (from the first) the head reads."""
        return int(self.mean.shape[0])

    def frame_loss(self, summary: np.ndarray, blocks_mean: float) -> float:
        """The frame's loss: the head's estimate from ``summary`` (``SUMMARY_FEATURES``; a head of an
        earlier format reads its first ``inputs``) blended (in the log domain) with ``blocks_mean``,
        the mean of the block predictions."""
        summary = summary[: self.inputs]
        standardised = ((summary - self.mean) * self.scale).astype(np.float32)[None, :]
        head = float(_ensemble_log(self.networks, standardised)[0])
        if self.trees is not None and self.tree_share > 0.0:
            ensemble = self.trees
            if self.keyframe_trees is not None and summary[SUMMARY_KEYFRAME] > 0.5:
                ensemble = self.keyframe_trees
            trees = float(ensemble.predict(np.asarray(summary, np.float64)[None, :])[0])
            head = (1.0 - self.tree_share) * head + self.tree_share * trees
        own = math.log(blocks_mean + self.log_offset)
        return max(math.exp(self.weight * head + (1.0 - self.weight) * own) - self.log_offset, 0.0)

    def to_json(self) -> dict:
        """The JSON form ``from_json`` reads."""
        document = {"features": list(SUMMARY_FEATURES[: self.inputs]), "mean": float32_lists(self.mean),
                    "scale": float32_lists(self.scale), "networks": [network.to_json() for network in self.networks],
                    "weight": self.weight, "log_offset": self.log_offset}
        if self.trees is not None:
            document.update(trees=self.trees.to_json(), tree_share=self.tree_share)
        if self.keyframe_trees is not None:
            document["keyframe_trees"] = self.keyframe_trees.to_json()
        return document

    @staticmethod
    def from_json(document: dict) -> "FrameHead":
        """The head in ``to_json``'s form, checking its feature names."""
        if document.get("features") not in (list(SUMMARY_FEATURES), list(LUMA_SUMMARY_FEATURES)):
            raise ValueError("quality model's frame head was trained on other features; retrain with "
                             "backdrop train quality")
        return FrameHead(mean=np.asarray(document["mean"], np.float32), scale=np.asarray(document["scale"], np.float32),
                         networks=tuple(Network.from_json(part) for part in document.get("networks") or []),
                         weight=float(document["weight"]), log_offset=float(document["log_offset"]),
                         trees=TreeEnsemble.from_json(document["trees"]) if document.get("trees") else None,
                         tree_share=float(document.get("tree_share", 0.0)),
                         keyframe_trees=(TreeEnsemble.from_json(document["keyframe_trees"])
                                         if document.get("keyframe_trees") else None))


def scaled_to_mean(matrix: np.ndarray, mean: float, target: float) -> np.ndarray:
    """A block loss ``matrix`` of mean ``mean`` scaled so that its mean is the frame's loss
    ``target`` (the blocks keep their ranking; each stays within 0..1); a matrix without loss
    becomes ``target`` throughout."""
    if mean <= 0.0:
        return np.full_like(matrix, min(target, 1.0))
    return np.clip(matrix * np.float32(target / mean), 0.0, 1.0)


@dataclass(frozen=True)
class QualityModel:
    """Standardise, run the networks, average, clip: feature rows -> predicted block loss."""

    mean: np.ndarray
    scale: np.ndarray
    networks: tuple[Network, ...]
    record: dict = field(default_factory=dict)
    log_offset: float = LOG_OFFSET
    frame_head: FrameHead | None = None
    """None in files of earlier formats: the frame's loss is then the block predictions' mean."""

    def __post_init__(self) -> None:
        _check_ensemble("quality model", self.mean, self.scale, self.networks,
                        len(BLOCK_FEATURES) + len(FRAME_FEATURES))
        if any(len(network.weights) < 2 for network in self.networks):
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
        return self._from_first_layer(hidden)

    def predict_blocks(self, blocks: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """``predict(feature_matrix(blocks, frame))`` reshaped to the block grid, without building
        the rows: the frame features, the same for every block, enter the first layer once."""
        weights, biases = self._first_layer
        count = blocks.shape[2]
        hidden = blocks.reshape(-1, count).astype(np.float32, copy=False) @ weights[:count]
        hidden += np.asarray(frame, np.float32) @ weights[count:] + biases
        return self._from_first_layer(hidden).reshape(blocks.shape[:2])

    def _from_first_layer(self, hidden: np.ndarray) -> np.ndarray:
        """The predicted loss from the first layers' pre-activations (rows, all networks' units)."""
        np.maximum(hidden, 0.0, out=hidden)
        total = np.zeros(hidden.shape[0], np.float32)
        start = 0
        for network in self.networks:
            width = network.weights[0].shape[1]
            total += network.forward(hidden[:, start : start + width], start=1)
            start += width
        total *= 1.0 / len(self.networks)
        return np.clip(np.exp(total) - self.log_offset, 0.0, 1.0)

    def estimate(self, blocks: np.ndarray, frame: np.ndarray, chroma: np.ndarray,
                 columns: BlockColumns | None = None) -> np.ndarray:
        """The predicted loss matrix (rows, cols) of a frame from its block features (rows, cols, n),
        frame features and chroma features (``chroma.chroma_features``); ``columns``
        (``features.block_columns(blocks)``), if given, spare the frame head's summary from computing
        them again."""
        matrix = self.predict_blocks(blocks, frame)
        if self.frame_head is None:
            return matrix
        return self.rescale(matrix, frame_summary(blocks, frame, chroma, columns))

    def rescale(self, matrix: np.ndarray, summary: np.ndarray) -> np.ndarray:
        """Block predictions ``matrix`` rescaled so that their mean is the frame head's loss for the
        frame's ``summary`` (``matrix`` itself without a frame head)."""
        if self.frame_head is None:
            return matrix
        blocks_mean = float(matrix.mean())
        return scaled_to_mean(matrix, blocks_mean, self.frame_head.frame_loss(summary, blocks_mean))

    def to_json(self) -> dict:
        """The JSON document ``load`` reads."""
        document = {
            "format": FORMAT,
            "features": list(BLOCK_FEATURES) + list(FRAME_FEATURES),
            "mean": float32_lists(self.mean), "scale": float32_lists(self.scale),
            "networks": [network.to_json() for network in self.networks],
            "log_offset": self.log_offset, "record": self.record,
        }
        if self.frame_head is not None:
            document["frame_head"] = self.frame_head.to_json()
        return document

    @staticmethod
    def from_json(document: dict) -> "QualityModel":
        """Build a model from its JSON document, checking format and feature names."""
        kind = document.get("format")
        if kind != FORMAT and kind not in EARLIER_FORMATS:
            raise ValueError(f"not a quality model file (format {kind!r}, expected {FORMAT})")
        names = list(BLOCK_FEATURES) + list(FRAME_FEATURES)
        if document.get("features") != names:
            raise ValueError("quality model was trained on other features; retrain with backdrop train quality")
        parts = [document] if kind == SINGLE_NETWORK_FORMAT else document.get("networks") or []
        return QualityModel(
            mean=np.asarray(document["mean"], np.float32), scale=np.asarray(document["scale"], np.float32),
            networks=tuple(Network.from_json(part) for part in parts), record=document.get("record", {}),
            log_offset=float(document["log_offset"]),
            frame_head=FrameHead.from_json(document["frame_head"]) if document.get("frame_head") else None,
        )

    @staticmethod
    def load(path: str | Path = DEFAULT_MODEL_PATH) -> "QualityModel":
        """Read a model file."""
        with open(path, encoding="utf-8") as handle:
            return QualityModel.from_json(json.load(handle))
