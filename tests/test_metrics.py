from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from server.imaging.metrics import SsimReference, block_loss_map, luma, ssim_loss


@pytest.mark.parametrize("quality", [10, 40, 90])
def test_ssim_loss_equals_scikit_image(astronaut: np.ndarray, quality: int) -> None:
    decoded = cv2.imdecode(cv2.imencode(".jpg", astronaut, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], 1)
    expected = 1.0 - structural_similarity(luma(astronaut), luma(decoded), data_range=255)
    assert ssim_loss(astronaut, decoded) == pytest.approx(expected, abs=1e-5)
    assert SsimReference(luma(astronaut)).loss(decoded) == pytest.approx(expected, abs=1e-5)


def test_identical_images_lose_nothing(astronaut: np.ndarray) -> None:
    assert ssim_loss(astronaut, astronaut.copy()) == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(block_loss_map(luma(astronaut), luma(astronaut), 16), 0.0, atol=1e-5)


def test_mismatched_sizes_are_rejected(astronaut: np.ndarray) -> None:
    with pytest.raises(ValueError, match="differ in size"):
        ssim_loss(luma(astronaut), luma(astronaut)[:100])
