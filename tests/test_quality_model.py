"""The quality model file: an ensemble averages its networks' log-loss outputs; the single-network
format of earlier releases still loads."""

from __future__ import annotations

import numpy as np
import pytest

from server.imaging.features import BLOCK_FEATURES, FRAME_FEATURES
from server.imaging.mlp import Network
from server.imaging.quality_model import SINGLE_NETWORK_FORMAT, QualityModel

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
