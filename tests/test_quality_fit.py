"""The quality estimator's training data and fit: each labelled frame's losses are the SSIM figures
measured directly, and fitting the ensemble on several processes gives the very networks one process
gives."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from server.imaging.features import BLOCK, frame_luma_u8
from server.imaging.metrics import block_loss_map, ssim_loss
from server.training.encoding import EncoderSetup, encode_decode
from server.training.quality_fit import FitConfig, fit
from server.training.quality_samples import ClipSpec, label_clip, render_clip


def _clip(width: int, height: int, codec: str, seed: int, frames: int = 8) -> ClipSpec:
    return ClipSpec("astronaut", width, height, EncoderSetup(codec, 300_000, "-6" if codec == "vp8" else "ultrafast"),
                    frames=frames, seed=seed)


@pytest.mark.parametrize("width, height", [(320, 240), (640, 360)])  # whole blocks, and a luma cropped to them
def test_labels_are_the_ssim_losses_of_the_frame_and_of_its_blocks(width: int, height: int) -> None:
    spec = _clip(width, height, "vp8", seed=5)
    samples = label_clip(spec)
    assert samples
    pristine = render_clip(spec)
    coded = encode_decode(pristine, spec.setup)
    for sample in samples:
        original, received = pristine[sample.index], coded[sample.index].image
        assert sample.frame_loss == ssim_loss(original, received)
        expected = block_loss_map(frame_luma_u8(original).astype(np.float32),
                                  frame_luma_u8(received).astype(np.float32), BLOCK)
        assert sample.block_loss.dtype == expected.dtype
        np.testing.assert_array_equal(sample.block_loss, expected)


@pytest.mark.slow
def test_fitting_on_two_processes_gives_the_networks_one_process_gives() -> None:
    samples = [sample for seed in range(6) for sample in
               label_clip(_clip(320, 240, ("vp8", "h264")[seed % 2], seed, frames=24))]
    config = FitConfig(seed=4, networks=2, max_iter=3, head_networks=2, head_trees=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn: too few iterations to converge, batch clipped
        alone, together = fit(samples, config, workers=1), fit(samples, config, workers=2)
    assert len(alone.networks) == 2 and alone.frame_head is not None and len(alone.frame_head.networks) == 2
    assert alone.record["epochs"] == together.record["epochs"]
    assert alone.record["frame_head"]["epochs"] == together.record["frame_head"]["epochs"]
    pairs = list(zip(alone.networks, together.networks))
    assert together.frame_head is not None
    pairs += list(zip(alone.frame_head.networks, together.frame_head.networks))
    for one, other in pairs:
        for a, b in zip(one.weights + one.biases, other.weights + other.biases):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(alone.mean, together.mean)
    np.testing.assert_array_equal(alone.frame_head.mean, together.frame_head.mean)
    assert alone.frame_head.trees is not None and together.frame_head.trees is not None
    np.testing.assert_array_equal(alone.frame_head.trees.value, together.frame_head.trees.value)
    np.testing.assert_array_equal(alone.frame_head.trees.threshold, together.frame_head.trees.threshold)
