"""Fit the quality model's frame head's gradient-boosted trees (scikit-learn's
``HistGradientBoostingRegressor``) and convert them to the numpy ``TreeEnsemble`` shipped in model
files. ``quality_fit`` fits the rest of the model and calls ``fit_tree_heads``.

What was measured on the trees (alone, beside the networks, their settings, keyframes apart):
``QUALITY_RECORD.md`` beside this module, section 7.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np

from ..imaging.mlp import float32_lists
from ..imaging.quality_model import SUMMARY_KEYFRAME
from ..imaging.tree_ensemble import TreeEnsemble

if TYPE_CHECKING:
    from .quality_fit import FitConfig

TREE_MIN_LEAF = 40
"""Frames a tree's leaf holds at least."""


def fit_tree_heads(summaries: np.ndarray, log_losses: np.ndarray,
                   config: FitConfig) -> tuple[TreeEnsemble, TreeEnsemble | None]:
    """The frame head's trees, from the frames' raw summaries to the log of their true loss: with
    ``config.keyframe_trees``, one set fitted on the inter frames and one on the keyframes, else (or
    when either kind has too few frames to split on) one set on every frame and None."""
    print("quality: fitting the frame head's trees", file=sys.stderr, flush=True)
    keyframe = summaries[:, SUMMARY_KEYFRAME] > 0.5
    least = 2 * TREE_MIN_LEAF  # frames for one split
    if not config.keyframe_trees or min(int(keyframe.sum()), int((~keyframe).sum())) < least:
        return fit_tree_head(summaries, log_losses, config), None
    return (fit_tree_head(summaries[~keyframe], log_losses[~keyframe], config),
            fit_tree_head(summaries[keyframe], log_losses[keyframe], config))


def fit_tree_head(summaries: np.ndarray, log_losses: np.ndarray, config: FitConfig) -> TreeEnsemble:
    """Gradient-boosted trees (scikit-learn's ``HistGradientBoostingRegressor``, no early stopping
    and no subsampling, so the seed does not enter) from the frames' raw summaries to the log of
    their true loss, as a numpy ``TreeEnsemble``."""
    from sklearn.ensemble import HistGradientBoostingRegressor  # training-only dependency

    regressor = HistGradientBoostingRegressor(
        learning_rate=config.tree_learning_rate, max_iter=config.head_trees, max_depth=config.tree_depth,
        max_leaf_nodes=config.tree_leaves, min_samples_leaf=TREE_MIN_LEAF, l2_regularization=1.0, early_stopping=False,
        random_state=config.seed)
    regressor.fit(summaries, log_losses)
    return trees_of(regressor)


def trees_of(regressor) -> TreeEnsemble:
    """A fitted scikit-learn ``HistGradientBoostingRegressor``'s trees (numerical features, no
    missing values) as the numpy ``TreeEnsemble`` shipped in model files, leaf values rounded as the
    file keeps them (``float32_lists``), so a model scores the same before and after it is written."""
    trees = [predictors[0].nodes for predictors in regressor._predictors]
    starts = np.cumsum([0] + [len(nodes) for nodes in trees[:-1]])
    nodes = np.concatenate(trees)
    leaf = nodes["is_leaf"].astype(bool)
    own = np.arange(len(nodes))
    left = np.where(leaf, own, np.concatenate([tree["left"] + start for tree, start in zip(trees, starts)]))
    right = np.where(leaf, own, np.concatenate([tree["right"] + start for tree, start in zip(trees, starts)]))
    return TreeEnsemble(feature=np.where(leaf, -1, nodes["feature_idx"]).astype(np.intp),
                        threshold=np.where(leaf, 0.0, nodes["num_threshold"]).astype(np.float64),
                        left=left.astype(np.intp), right=right.astype(np.intp),
                        value=np.asarray(float32_lists(np.where(leaf, nodes["value"], 0.0)), np.float64),
                        roots=starts.astype(np.intp), depth=int(nodes["depth"].max()),
                        baseline=float(np.ravel(regressor._baseline_prediction)[0]),
                        inputs=int(regressor.n_features_in_))
