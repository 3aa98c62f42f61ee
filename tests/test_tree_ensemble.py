"""The frame head's gradient-boosted trees: scikit-learn's fitted trees walk the same in numpy,
survive the model file, and a malformed ensemble is refused with a clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from server.imaging.features import SUMMARY_FEATURES
from server.imaging.tree_ensemble import TreeEnsemble
from server.training.quality_fit import FitConfig
from server.training.tree_head_fit import fit_tree_head, fit_tree_heads, trees_of


def _fitted(inputs: int = 6, trees: int = 40) -> tuple[HistGradientBoostingRegressor, np.ndarray]:
    rng = np.random.default_rng(0)
    rows = rng.normal(0, 1, (600, inputs))
    target = np.sin(rows[:, 0]) + rows[:, 1] * rows[:, 2] - 0.5 * (rows[:, 3] > 0.3)
    regressor = HistGradientBoostingRegressor(max_iter=trees, max_depth=4, max_leaf_nodes=9, learning_rate=0.2,
                                              early_stopping=False, random_state=0).fit(rows, target)
    return regressor, rng.normal(0, 1.2, (200, inputs))


def test_the_numpy_walk_predicts_what_scikit_learn_predicts_and_survives_json() -> None:
    regressor, rows = _fitted()
    trees = trees_of(regressor)
    assert trees.roots.size == 40 and trees.depth <= 4
    # leaf values are kept as float32, so agreement is to float32 precision
    np.testing.assert_allclose(trees.predict(rows), regressor.predict(rows), rtol=0, atol=1e-5)
    again = TreeEnsemble.from_json(json.loads(json.dumps(trees.to_json())))
    np.testing.assert_array_equal(again.predict(rows), trees.predict(rows))
    np.testing.assert_array_equal(trees.predict(rows[:1]), trees.predict(rows)[:1])


def test_a_malformed_ensemble_is_refused() -> None:
    document = trees_of(_fitted(trees=3)[0]).to_json()
    outside = {**document, "left": [len(document["left"])] + document["left"][1:]}
    with pytest.raises(ValueError, match="points outside"):
        TreeEnsemble.from_json(outside)
    leaf = document["feature"].index(-1)
    wandering = {**document, "left": [*document["left"][:leaf], 0, *document["left"][leaf + 1:]]}
    with pytest.raises(ValueError, match="leaves must point to themselves"):
        TreeEnsemble.from_json(wandering)
    with pytest.raises(ValueError, match="deeper than"):
        TreeEnsemble.from_json({**document, "depth": 1})
    with pytest.raises(ValueError, match="one-dimensional"):
        TreeEnsemble.from_json({**document, "feature": 3})
    with pytest.raises(ValueError, match="malformed tree ensemble"):
        TreeEnsemble.from_json({key: value for key, value in document.items() if key != "threshold"})
    with pytest.raises(ValueError, match="rows of 6 features"):
        TreeEnsemble.from_json(document).predict(np.zeros((2, 5)))


def test_a_frame_head_mixes_its_trees_and_networks_by_the_tree_share() -> None:
    from server.imaging.mlp import Network
    from server.imaging.quality_model import FrameHead

    inputs = len(SUMMARY_FEATURES)
    constant = Network((np.zeros((inputs, 4), np.float32), np.zeros((4, 1), np.float32)),
                       (np.zeros(4, np.float32), np.array([-4.0], np.float32)))
    stump = TreeEnsemble(feature=np.array([-1]), threshold=np.zeros(1), left=np.array([0]), right=np.array([0]),
                         value=np.array([0.5]), roots=np.array([0]), depth=0, baseline=-2.5, inputs=inputs)
    summary = np.zeros(inputs, np.float32)
    for share in (0.0, 0.5, 1.0):
        head = FrameHead(mean=np.zeros(inputs, np.float32), scale=np.ones(inputs, np.float32), networks=(constant,),
                         weight=1.0, trees=stump, tree_share=share)
        assert head.frame_loss(summary, 0.01) == pytest.approx(np.exp((1 - share) * -4.0 + share * -2.0) - 0.001)
        again = FrameHead.from_json(json.loads(json.dumps(head.to_json())))
        assert again.frame_loss(summary, 0.01) == head.frame_loss(summary, 0.01)
    with pytest.raises(ValueError, match="needs its trees"):
        FrameHead(mean=np.zeros(inputs, np.float32), scale=np.ones(inputs, np.float32), networks=(constant,),
                  weight=1.0, tree_share=0.5)


def test_the_tree_learning_rate_scales_each_trees_step() -> None:
    """``FitConfig.tree_learning_rate`` reaches the fit: the first tree splits the same way at any
    rate, and its leaves step by the rate."""
    rng = np.random.default_rng(3)
    summaries = rng.normal(0, 1, (400, len(SUMMARY_FEATURES)))
    log_losses = np.log(rng.uniform(0.001, 0.2, 400))
    slow, fast = (fit_tree_head(summaries, log_losses, FitConfig(head_trees=3, tree_learning_rate=rate))
                  for rate in (0.05, 0.2))
    first = slice(int(slow.roots[0]), int(slow.roots[1]))
    np.testing.assert_array_equal(slow.feature[first], fast.feature[first])
    np.testing.assert_allclose(fast.value[first], 4 * slow.value[first], rtol=1e-5, atol=1e-9)


def _stump(value: float) -> TreeEnsemble:
    """One leaf: every row scores ``value``."""
    return TreeEnsemble(feature=np.array([-1]), threshold=np.zeros(1), left=np.array([0]), right=np.array([0]),
                        value=np.array([value]), roots=np.array([0]), depth=0, baseline=0.0,
                        inputs=len(SUMMARY_FEATURES))


def test_keyframes_walk_their_own_trees_and_inter_frames_the_others() -> None:
    from server.imaging.mlp import Network
    from server.imaging.quality_model import FrameHead

    inputs = len(SUMMARY_FEATURES)
    constant = Network((np.zeros((inputs, 4), np.float32), np.zeros((4, 1), np.float32)),
                       (np.zeros(4, np.float32), np.array([-4.0], np.float32)))
    head = FrameHead(mean=np.zeros(inputs, np.float32), scale=np.ones(inputs, np.float32), networks=(constant,),
                     weight=1.0, trees=_stump(-3.0), tree_share=1.0, keyframe_trees=_stump(-5.0))
    inter, key = np.zeros(inputs, np.float32), np.zeros(inputs, np.float32)
    key[SUMMARY_FEATURES.index("keyframe")] = 1.0
    assert head.frame_loss(inter, 0.01) == pytest.approx(np.exp(-3.0) - 0.001)
    assert head.frame_loss(key, 0.01) == pytest.approx(np.exp(-5.0) - 0.001)
    again = FrameHead.from_json(json.loads(json.dumps(head.to_json())))
    assert (again.frame_loss(inter, 0.01), again.frame_loss(key, 0.01)) == (head.frame_loss(inter, 0.01),
                                                                            head.frame_loss(key, 0.01))
    with pytest.raises(ValueError, match="keyframe trees needs trees for the other frames"):
        FrameHead(mean=np.zeros(inputs, np.float32), scale=np.ones(inputs, np.float32), networks=(constant,),
                  weight=1.0, keyframe_trees=_stump(-5.0))


def test_the_head_trees_are_fitted_apart_on_keyframes_and_inter_frames_when_both_are_enough() -> None:
    rng = np.random.default_rng(4)
    summaries = rng.normal(0, 1, (600, len(SUMMARY_FEATURES)))
    column = SUMMARY_FEATURES.index("keyframe")
    summaries[:, column] = np.arange(600) < 150
    # keyframes lose little whatever their first feature says; inter frames follow it
    log_losses = np.where(summaries[:, column] > 0.5, -6.0, summaries[:, 0] - 3.0)
    config = FitConfig(head_trees=30, tree_learning_rate=0.3)
    inter, key = fit_tree_heads(summaries, log_losses, config)
    assert key is not None
    probe = np.zeros((2, len(SUMMARY_FEATURES)))
    probe[:, 0] = (-1.5, 1.5)
    assert key.predict(probe) == pytest.approx([-6.0, -6.0], abs=0.05)
    assert inter.predict(probe)[1] - inter.predict(probe)[0] > 2.0
    one, none = fit_tree_heads(summaries, log_losses, FitConfig(head_trees=30, keyframe_trees=False))
    assert none is None and one.predict(probe)[1] > one.predict(probe)[0]
    few = summaries.copy()
    few[:, column] = np.arange(600) < 50  # under two leaves' worth of keyframes: one set for all frames
    assert fit_tree_heads(few, log_losses, config)[1] is None
