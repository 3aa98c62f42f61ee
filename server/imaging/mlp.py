"""The forward pass of the small multilayer perceptrons the project ships (pure numpy, no runtime
dependency): standardise the inputs, ReLU hidden layers, a linear output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Network:
    """One network's layers: ``weights[i]`` (n_in, n_out) and ``biases[i]`` (n_out,), float32."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.biases) or not self.weights:
            raise ValueError("a network needs as many bias vectors as weight matrices, at least one")

    def forward(self, inputs: np.ndarray, start: int = 0) -> np.ndarray:
        """The network's first output for each row of ``inputs``: already standardised inputs, or with
        ``start`` > 0 the activations (after ReLU) of layer ``start - 1``."""
        hidden = inputs
        last = len(self.weights) - 1
        for index in range(start, last + 1):
            hidden = hidden @ self.weights[index]
            hidden += self.biases[index]
            if index < last:
                np.maximum(hidden, 0.0, out=hidden)
        return hidden[:, 0]

    def to_json(self) -> dict:
        """Weights and biases as JSON lists."""
        return layers_to_json(self.weights, self.biases)

    @staticmethod
    def from_json(document: dict) -> "Network":
        """The network in ``to_json``'s form."""
        return Network(*layers_from_json(document))


def mlp_forward(rows: np.ndarray, mean: np.ndarray, scale: np.ndarray, weights: tuple[np.ndarray, ...],
                biases: tuple[np.ndarray, ...]) -> np.ndarray:
    """The network's first output for each row of ``rows`` (n, n_inputs)."""
    return Network(weights, biases).forward((rows - mean) * scale)


def layers_to_json(weights: tuple[np.ndarray, ...], biases: tuple[np.ndarray, ...]) -> dict:
    """Weights and biases as JSON lists."""
    return {"weights": [float32_lists(w) for w in weights], "biases": [float32_lists(b) for b in biases]}


def float32_lists(values: np.ndarray) -> list:
    """``values`` as (nested) lists of the shortest decimals that read back as the same float32s:
    ``tolist`` would spell out each float32's float64 expansion, twice the characters in a JSON file."""
    array = np.asarray(values, np.float32)
    shortest = np.array([float(str(value)) for value in array.ravel()], np.float64)
    return shortest.reshape(array.shape).tolist()


def layers_from_json(document: dict) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Weights and biases (float32) from ``layers_to_json``'s form."""
    weights = tuple(np.asarray(w, np.float32) for w in document["weights"])
    biases = tuple(np.asarray(b, np.float32) for b in document["biases"])
    if len(weights) != len(biases) or not weights:
        raise ValueError("a network needs as many bias vectors as weight matrices, at least one")
    return weights, biases
