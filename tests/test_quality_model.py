"""The quality model file: an ensemble averages its networks' log-loss outputs; the frame head
rescales the block matrix to its estimate of the frame's loss; earlier formats still load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from server.imaging.features import (
    BLOCK_FEATURES, CHROMA_FEATURES, FRAME_FEATURES, LUMA_SUMMARY_FEATURES, SUMMARY_FEATURES, feature_matrix,
    frame_summary)
from server.imaging.mlp import Network, float32_lists
from server.imaging.quality_model import SINGLE_NETWORK_FORMAT, FrameHead, QualityModel

_INPUTS = len(BLOCK_FEATURES) + len(FRAME_FEATURES)


def _network(rng: np.random.Generator) -> Network:
    return Network((rng.normal(0, 0.3, (_INPUTS, 8)).astype(np.float32), rng.normal(0, 0.3, (8, 1)).astype(np.float32)),
                   (rng.normal(0, 0.1, 8).astype(np.float32), np.array([-3.0], np.float32)))


def _model(networks: tuple[Network, ...]) -> QualityModel:
    return QualityModel(mean=np.zeros(_INPUTS, np.float32), scale=np.ones(_INPUTS, np.float32), networks=networks)


def test_an_ensemble_averages_its_networks_in_the_log_domain() -> None:
    rng = np.random.default_rng(0)
    first, second = _network(rng), _network(rng)
    rows = rng.normal(0, 1, (50, _INPUTS)).astype(np.float32)
    log_one, log_two = (n.forward(rows) for n in (first, second))
    expected = np.clip(np.exp((log_one + log_two) / 2) - 0.01, 0, 1)
    np.testing.assert_allclose(_model((first, second)).predict(rows), expected, rtol=1e-5, atol=1e-7)
    # and it differs from either network alone
    assert not np.allclose(_model((first,)).predict(rows), expected)


def test_the_model_file_round_trips_and_the_single_network_format_still_loads() -> None:
    rng = np.random.default_rng(1)
    model = _model((_network(rng), _network(rng), _network(rng)))
    rows = rng.normal(0, 1, (20, _INPUTS)).astype(np.float32)
    again = QualityModel.from_json(model.to_json())
    np.testing.assert_allclose(again.predict(rows), model.predict(rows), rtol=1e-6)
    single = model.networks[0]
    legacy = {"format": SINGLE_NETWORK_FORMAT, "features": list(BLOCK_FEATURES) + list(FRAME_FEATURES),
              "mean": model.mean.tolist(), "scale": model.scale.tolist(), **single.to_json(), "log_offset": 0.01}
    np.testing.assert_allclose(QualityModel.from_json(legacy).predict(rows), _model((single,)).predict(rows), rtol=1e-6)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="something/1"), "not a quality model file"),
    (lambda d: d.update(features=["log_bpp"]), "trained on other features"),
    (lambda d: d.update(networks=[]), "at least one network"),
])
def test_bad_model_files_are_rejected(change, message: str) -> None:
    document = _model((_network(np.random.default_rng(2)),)).to_json()
    change(document)
    with pytest.raises(ValueError, match=message):
        QualityModel.from_json(document)


def _head(weight: float, output: float, inputs: int = len(SUMMARY_FEATURES)) -> FrameHead:
    """A head whose networks ignore their inputs and output ``output`` (a log loss)."""
    constant = Network((np.zeros((inputs, 4), np.float32), np.zeros((4, 1), np.float32)),
                       (np.zeros(4, np.float32), np.array([output], np.float32)))
    return FrameHead(mean=np.zeros(inputs, np.float32), scale=np.ones(inputs, np.float32), networks=(constant,),
                     weight=weight)


def test_the_frame_head_sets_the_matrix_mean_and_keeps_its_shape() -> None:
    rng = np.random.default_rng(3)
    blocks = rng.normal(0, 1, (6, 8, len(BLOCK_FEATURES))).astype(np.float32)
    frame = rng.normal(0, 1, len(FRAME_FEATURES)).astype(np.float32)
    chroma = rng.normal(0, 1, len(CHROMA_FEATURES)).astype(np.float32)
    plain = _model((_network(rng), _network(rng)))
    own = plain.estimate(blocks, frame, chroma)
    head_loss = 0.05
    for weight in (0.0, 0.7, 1.0):
        model = QualityModel(mean=plain.mean, scale=plain.scale, networks=plain.networks,
                             frame_head=_head(weight, np.log(head_loss + 0.001)))
        matrix = model.estimate(blocks, frame, chroma)
        expected = np.exp(weight * np.log(head_loss + 0.001) + (1 - weight) * np.log(own.mean() + 0.001)) - 0.001
        assert matrix.shape == own.shape
        assert matrix.mean() == pytest.approx(expected, rel=1e-4)
        np.testing.assert_allclose(matrix / matrix.mean(), own / own.mean(), rtol=1e-4)  # where the loss is


def test_the_frame_head_round_trips_and_files_without_one_still_load() -> None:
    rng = np.random.default_rng(4)
    plain = _model((_network(rng),))
    model = QualityModel(mean=plain.mean, scale=plain.scale, networks=plain.networks, frame_head=_head(0.7, -3.0))
    again = QualityModel.from_json(model.to_json())
    assert again.frame_head is not None and again.frame_head.weight == 0.7
    blocks = rng.normal(0, 1, (4, 5, len(BLOCK_FEATURES))).astype(np.float32)
    frame = rng.normal(0, 1, len(FRAME_FEATURES)).astype(np.float32)
    chroma = rng.normal(0, 1, len(CHROMA_FEATURES)).astype(np.float32)
    np.testing.assert_allclose(again.estimate(blocks, frame, chroma), model.estimate(blocks, frame, chroma), rtol=1e-6)
    earlier = {**plain.to_json(), "format": "backdrop-quality-mlp/3"}
    assert QualityModel.from_json(earlier).frame_head is None
    networks_only = QualityModel.from_json({**model.to_json(), "format": "backdrop-quality-mlp/4"})
    assert networks_only.frame_head is not None and networks_only.frame_head.trees is None
    document = model.to_json()
    document["frame_head"]["features"] = document["frame_head"]["features"][:-1]
    with pytest.raises(ValueError, match="frame head was trained on other features"):
        QualityModel.from_json(document)


def test_the_frame_summary_is_the_frame_features_then_block_statistics() -> None:
    rng = np.random.default_rng(5)
    blocks = rng.normal(0, 1, (15, 20, len(BLOCK_FEATURES))).astype(np.float32)
    frame = rng.normal(0, 1, len(FRAME_FEATURES)).astype(np.float32)
    flat = blocks.reshape(-1, blocks.shape[2])
    expected = np.concatenate([frame, flat.mean(0), flat.std(0), np.percentile(flat, [10, 25, 50, 75, 90], axis=0).ravel()])
    chroma = rng.normal(0, 1, len(CHROMA_FEATURES)).astype(np.float32)
    summary = frame_summary(blocks, frame, chroma)
    assert summary.shape == (len(SUMMARY_FEATURES),)
    np.testing.assert_allclose(summary[: len(LUMA_SUMMARY_FEATURES)], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(summary[len(LUMA_SUMMARY_FEATURES):], chroma)
    with pytest.raises(ValueError, match="chroma features must be 12 values"):
        frame_summary(blocks, frame, chroma[:-1])


def test_a_head_of_an_earlier_format_reads_the_luma_part_of_the_summary() -> None:
    rng = np.random.default_rng(7)
    inputs = len(LUMA_SUMMARY_FEATURES)
    weights = rng.normal(0, 0.1, (inputs, 4)).astype(np.float32)
    network = Network((weights, rng.normal(0, 0.3, (4, 1)).astype(np.float32)),
                      (np.zeros(4, np.float32), np.array([-4.0], np.float32)))
    luma_head = FrameHead(mean=np.zeros(inputs, np.float32), scale=np.ones(inputs, np.float32), networks=(network,),
                          weight=1.0)
    plain = _model((_network(rng),))
    document = QualityModel(mean=plain.mean, scale=plain.scale, networks=plain.networks, frame_head=luma_head).to_json()
    document["format"] = "backdrop-quality-mlp/6"
    assert document["frame_head"]["features"] == list(LUMA_SUMMARY_FEATURES)
    head = QualityModel.from_json(document).frame_head
    assert head is not None and head.inputs == inputs
    summary = rng.normal(0, 1, len(SUMMARY_FEATURES)).astype(np.float32)
    other_chroma = summary.copy()
    other_chroma[inputs:] += 5.0
    expected = float(np.exp(network.forward(summary[None, :inputs])[0]) - head.log_offset)
    assert head.frame_loss(summary, 0.01) == pytest.approx(expected, rel=1e-5)
    assert head.frame_loss(other_chroma, 0.01) == head.frame_loss(summary, 0.01)
    with pytest.raises(ValueError, match="a frame head reads"):
        FrameHead(mean=np.zeros(inputs + 1, np.float32), scale=np.ones(inputs + 1, np.float32), networks=(network,),
                  weight=1.0)


def test_model_files_spell_weights_as_the_shortest_decimals_that_read_back_exactly() -> None:
    rng = np.random.default_rng(6)
    values = np.concatenate([rng.normal(0, 1, 500), rng.normal(0, 1e-6, 50), [0.0, 1.0, -3.0, 1e20]])
    values = values.astype(np.float32)
    lists = float32_lists(values.reshape(2, -1))
    np.testing.assert_array_equal(np.asarray(lists, np.float32).reshape(-1), values)
    assert len(json.dumps(lists)) < 0.7 * len(json.dumps(values.reshape(2, -1).tolist()))


def test_a_frame_is_predicted_as_its_feature_rows_are() -> None:
    rng = np.random.default_rng(5)
    model = QualityModel(mean=rng.normal(0, 1, _INPUTS).astype(np.float32),
                         scale=rng.uniform(0.5, 2.0, _INPUTS).astype(np.float32),
                         networks=(_network(rng), _network(rng)))
    blocks = rng.normal(0, 1, (6, 9, len(BLOCK_FEATURES))).astype(np.float32)
    frame = rng.normal(0, 1, len(FRAME_FEATURES)).astype(np.float32)
    expected = model.predict(feature_matrix(blocks, frame)).reshape(6, 9)
    np.testing.assert_allclose(model.predict_blocks(blocks, frame), expected, rtol=1e-5, atol=1e-7)
    assert len(np.unique(expected)) > 40  # the rows differ: the check compares real predictions
