"""The forward pass of the small multilayer perceptrons the project ships (pure numpy, no runtime
dependency): standardise the inputs, ReLU hidden layers, a linear output."""

from __future__ import annotations

import numpy as np


def mlp_forward(rows: np.ndarray, mean: np.ndarray, scale: np.ndarray, weights: tuple[np.ndarray, ...],
                biases: tuple[np.ndarray, ...]) -> np.ndarray:
    """The network's first output for each row of ``rows`` (n, n_inputs)."""
    hidden = (rows - mean) * scale
    last = len(weights) - 1
    for index, (weight, bias) in enumerate(zip(weights, biases)):
        hidden = hidden @ weight + bias
        if index < last:
            np.maximum(hidden, 0.0, out=hidden)
    return hidden[:, 0]


def layers_to_json(weights: tuple[np.ndarray, ...], biases: tuple[np.ndarray, ...]) -> dict:
    """Weights and biases as JSON lists."""
    return {"weights": [w.tolist() for w in weights], "biases": [b.tolist() for b in biases]}


def layers_from_json(document: dict) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Weights and biases (float32) from ``layers_to_json``'s form."""
    weights = tuple(np.asarray(w, np.float32) for w in document["weights"])
    biases = tuple(np.asarray(b, np.float32) for b in document["biases"])
    if len(weights) != len(biases) or not weights:
        raise ValueError("a network needs as many bias vectors as weight matrices, at least one")
    return weights, biases
