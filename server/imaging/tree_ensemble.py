"""The forward pass of a shipped ensemble of regression trees (gradient boosting): pure numpy, no
runtime dependency. Training (``server.training.tree_head_fit``) converts scikit-learn's fitted trees
into this form; here the trees are only walked.

All trees' nodes sit in flat arrays. An internal node sends a row left when its feature is at most
the node's threshold, right otherwise; a leaf holds a value and points to itself, so every tree is
walked the same number of steps (the deepest tree's depth) for all rows and trees at once. The
prediction is the baseline plus the sum of the leaves reached.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .mlp import float32_lists


@dataclass(frozen=True)
class TreeEnsemble:
    """Flat node arrays of all trees: ``feature`` (-1 at a leaf), ``threshold``, ``left``, ``right``
    (global node indices; a leaf's are its own), ``value`` (0 at internal nodes), ``roots`` (each
    tree's first node), ``depth`` (steps to reach any leaf) and ``baseline``."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    depth: int
    baseline: float
    inputs: int
    """How many features a row has."""

    def __post_init__(self) -> None:
        if self.feature.ndim != 1:
            raise ValueError("a tree ensemble's node arrays must be one-dimensional")
        count = self.feature.shape[0]
        if not count or any(array.shape != (count,) for array in (self.threshold, self.left, self.right, self.value)):
            raise ValueError("a tree ensemble needs equally long, non-empty node arrays")
        if self.roots.ndim != 1 or not self.roots.size:
            raise ValueError("a tree ensemble needs at least one tree")
        for name, array in (("left", self.left), ("right", self.right), ("roots", self.roots)):
            if array.min() < 0 or array.max() >= count:
                raise ValueError(f"tree ensemble's {name} points outside its {count} nodes")
        leaf = self.feature < 0
        if self.feature.max() >= self.inputs:
            raise ValueError(f"a tree splits on feature {int(self.feature.max())} of {self.inputs}")
        nodes = np.arange(count)
        if np.any(self.left[leaf] != nodes[leaf]) or np.any(self.right[leaf] != nodes[leaf]):
            raise ValueError("a tree ensemble's leaves must point to themselves")
        reached = self.roots
        for _ in range(self.depth):
            reached = np.concatenate([self.left[reached], self.right[reached]])
        if not np.all(leaf[reached]):
            raise ValueError(f"a tree is deeper than the ensemble's depth {self.depth}")

    @functools.cached_property
    def _walk_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Split features (a leaf reads feature 0: its comparison is made but leads back to it),
        thresholds, and children interleaved (node k's left child at 2k, right at 2k + 1)."""
        children = np.stack([self.left, self.right], axis=1).reshape(-1)
        return np.maximum(self.feature, 0), self.threshold, children

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """The ensemble's prediction for each row of ``rows`` (n, inputs) of finite features."""
        rows = np.asarray(rows, np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.inputs:
            raise ValueError(f"tree ensemble expects rows of {self.inputs} features, got shape {rows.shape}")
        feature, threshold, children = self._walk_arrays
        if rows.shape[0] == 1:  # the server's case, one frame at a time: one-dimensional steps are faster
            row, nodes = rows[0], self.roots
            for _ in range(self.depth):
                nodes = children[2 * nodes + (row[feature[nodes]] > threshold[nodes])]
            return np.array([self.baseline + self.value[nodes].sum()])
        row_index = np.arange(rows.shape[0])[:, None]
        nodes = np.broadcast_to(self.roots, (rows.shape[0], self.roots.size))
        for _ in range(self.depth):
            nodes = children[2 * nodes + (rows[row_index, feature[nodes]] > threshold[nodes])]
        return self.baseline + self.value[nodes].sum(axis=1)

    def to_json(self) -> dict:
        """The node arrays as JSON lists (thresholds at full precision: a row's side of a split
        must not move)."""
        return {"inputs": self.inputs, "depth": self.depth, "baseline": self.baseline,
                "roots": self.roots.tolist(), "feature": self.feature.tolist(),
                "threshold": self.threshold.tolist(), "left": self.left.tolist(), "right": self.right.tolist(),
                "value": float32_lists(self.value)}

    @staticmethod
    def from_json(document: dict) -> "TreeEnsemble":
        """The ensemble in ``to_json``'s form, checked (``ValueError`` if malformed)."""
        try:
            return TreeEnsemble(
                feature=np.asarray(document["feature"], np.intp), threshold=np.asarray(document["threshold"], np.float64),
                left=np.asarray(document["left"], np.intp), right=np.asarray(document["right"], np.intp),
                value=np.asarray(document["value"], np.float64), roots=np.asarray(document["roots"], np.intp),
                depth=int(document["depth"]), baseline=float(document["baseline"]), inputs=int(document["inputs"]))
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed tree ensemble: {error}") from error
