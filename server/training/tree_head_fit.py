"""Fit the quality model's frame head's gradient-boosted trees (scikit-learn's
``HistGradientBoostingRegressor``) and convert them to the numpy ``TreeEnsemble`` shipped in model
files. ``quality_fit`` fits the rest of the model and calls ``fit_tree_heads``.

Measured: gradient-boosted trees beside the networks in the frame head (``FitConfig.head_trees``,
``tree_share``; the trees walked in numpy, ``imaging.tree_ensemble``). Measured on the frames of two
runs of the recipe's data (``backdrop train quality``'s clips at seeds 8 and 7, labelled as it
labels them), heads fitted on each and scored with the shipped model's block networks, on that run's
held-out frames and on ``scripts/probe_real_video.py``'s 23,760 frames (one encode, shared by every
head; it reproduces the probe's 0.876 for the shipped model):

- the three networks alone (as shipped): held-out 0.902 / 0.901, real footage 0.865 / 0.873 (each
  video calibrated 0.891 / 0.901);
- 1000 trees (depth 5, 15 leaves, learning rate 0.05) alone: held-out 0.892 / 0.872, real footage
  0.888 / 0.867;
- the two averaged in the log domain (``tree_share`` 0.5): held-out 0.905 / 0.895, real footage
  **0.884 / 0.883** (calibrated 0.899 / 0.903); shares 0.3 and 0.7: real 0.878 / 0.881 and 0.888 / 0.881, held-out
  0.906 / 0.899 and 0.902 / 0.887. Half and half gains 0.015 on real footage for 0.002 held-out;
- other trees on seed 8's frames, alone: 15 leaves at any depth 0.892 real / 0.885 held-out, 31
  leaves 0.889 / 0.887, learning rate 0.1 0.884 / 0.889, absolute-error loss 0.885 / 0.882. Depth 5
  keeps the walk short: 1000 trees cost 0.09-0.18 ms a frame;
- a lead: a ridge regression (scikit-learn's ``Ridge``, alpha 10, standardised summary) as a third
  member, a third each: real footage 0.893 / 0.891, held-out 0.901 / 0.888. Alone the ridge ranks
  real footage at 0.888 / 0.879 but held-out frames at only 0.846 / 0.815: the simpler the learner,
  the better it carries from the synthetic clips to real footage;
- a full ``backdrop train quality --head-trees 1000`` (learning rate 0.05, seed 8), against its own
  networks alone: real footage 0.882 against 0.858 (on the same encodes, where the shipped model
  scores 0.876), ``backdrop evaluate`` 0.890 against 0.886, the library-defaults probe 0.696
  against 0.676; the training record's held-out frames 0.896 (the shipped model's record: 0.906).
  ``recipe.HEAD_TREES`` says why it was not the default then;
- two more full runs, ``--head-trees 300`` at learning rate 0.15 (``recipe.TREE_LEARNING_RATE``),
  seeds 8 / 9: real footage 0.881 / 0.888 against their networks alone 0.864 / 0.870 (the shipped
  model 0.876 on the same encodes); on each run's cached frames the ridge as a third member again
  gained on real footage and lost on held-out frames (seed 8: 0.892 against 0.881, held-out 0.898
  against 0.901), and trees constrained to fall as ``log_bpp`` and ``bits_per_texture`` rise ranked
  as the unconstrained ones (0.883 / 0.901 against 0.881 / 0.901);
- adopted: the trees fitted apart on keyframes and on inter frames (``FitConfig.keyframe_trees``),
  beside the shipped networks (``recipe.HEAD_TREES`` has the figures). On one run's cached frames
  (seed 8, the shipped networks), 300 trees for every frame ranked the held-out frames at 0.905 and
  their keyframes at 0.962, the real-footage probe's at 0.889 and its keyframes at 0.862; fitted
  apart, 0.908 (keyframes 0.968) and 0.889 (keyframes 0.876). An intra frame's size and pixels
  relate to its loss otherwise than an inter frame's, and a keyframe is a sixth of the training
  frames, too few for shared trees to learn it apart;
- the trees' settings screened again with the chroma features (format /7), refitted on a rebuild
  of seed 8's training frames beside the shipped networks and block network (each fit about a
  minute): as shipped (``TREE_MIN_LEAF`` 40, L2 1) the rebuild's held-out frames rank at 0.910 and
  the real-footage probe's at 0.901 (the shipped trees, fitted on another build of the same clips:
  0.910 / 0.899, so 0.002 on real footage is what a rebuild moves); leaves of at least 100 / 250
  frames 0.911 / 0.906 and 0.898 / 0.897; absolute-error loss 0.905 / 0.898; L2 10 0.910 / 0.898;
  500 trees at 0.1 with leaves of 100, 0.910 / 0.899; half the features per split 0.909 / 0.892.
  None is better on the held-out frames; none moves real footage beyond the rebuild's own 0.002.
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
