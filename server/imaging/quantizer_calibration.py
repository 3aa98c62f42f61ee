"""The quantizer calibration: the quality estimate corrected by the frame's quantizer.

``estimate_quality`` sees a frame's pixels and size; its weakness is each stream's level (how much
a footage loses at a given size), which the pixels do not show and the encoder's quantizer does
(``quantizer``). Where the receiver has the quantizer (the server reads it from the bitstream), this
small model of gradient-boosted trees maps (the estimate, the quantizer step, bits per pixel,
keyframe flag, codec, frame size) to the log of the frame's loss, and the estimate's block matrix is
scaled to it, so the blocks keep their ranking. Fitted by ``backdrop train quantizer`` on clips the
quality model never trained on (``server.training.quantizer_fit``); its measurements are in
``server/training/QUALITY_RECORD.md``, section 9.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .quality_model import scaled_to_mean
from .quantizer import log_step
from .tree_ensemble import TreeEnsemble

DEFAULT_CALIBRATION_PATH = Path(__file__).with_name("models") / "quantizer_calibration.json"
FORMAT = "backdrop-quantizer-calibration/1"
INPUTS = ("log_bpp", "keyframe", "vp8", "log_pixels", "log_estimate", "log_step", "log_step_over_bpp")
"""The trees' inputs, in order: log bits per pixel, keyframe flag, 1 for VP8 (0 for H.264), log of
the pixel count, log of the estimate (the mean of its matrix), log of the quantizer step, and the
last two's difference."""
_FLOOR = 1e-6
"""The least loss: estimates are floored here before their log, and so are calibrated losses."""
_BPP_FLOOR = 1e-4


def calibration_inputs(estimates: np.ndarray, log_steps: np.ndarray, encoded_sizes: np.ndarray,
                       keyframes: np.ndarray, vp8: np.ndarray, widths: np.ndarray,
                       heights: np.ndarray) -> np.ndarray:
    """The trees' input rows (``INPUTS``) for frames given column by column."""
    pixels = np.asarray(widths, np.float64) * np.asarray(heights, np.float64)
    log_bpp = np.log(8.0 * np.asarray(encoded_sizes, np.float64) / pixels + _BPP_FLOOR)
    steps = np.asarray(log_steps, np.float64)
    return np.column_stack([log_bpp, np.asarray(keyframes, np.float64), np.asarray(vp8, np.float64),
                            np.log(pixels), np.log(np.maximum(np.asarray(estimates, np.float64), _FLOOR)),
                            steps, steps - log_bpp])


@dataclass(frozen=True)
class QuantizerCalibration:
    """Trees from ``INPUTS`` to the log of a frame's loss, and the record of their fit."""

    trees: TreeEnsemble
    record: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.trees.inputs != len(INPUTS):
            raise ValueError(f"quantizer calibration expects {len(INPUTS)} inputs, its trees read {self.trees.inputs}")

    def calibrate(self, estimate: float, quantizer: float, codec: str, encoded_size: int, keyframe: bool,
                  width: int, height: int) -> float:
        """The frame's loss (1 - SSIM of the luma) from its quality ``estimate`` (the mean of the
        matrix) and its ``quantizer`` (VP8 index or H.264 QP, ``quantizer.log_step``)."""
        rows = calibration_inputs(np.array([estimate]), np.array([log_step(codec, quantizer)]),
                                  np.array([encoded_size]), np.array([keyframe]), np.array([codec == "vp8"]),
                                  np.array([width]), np.array([height]))
        return float(min(max(math.exp(float(self.trees.predict(rows)[0])), _FLOOR), 1.0))

    def calibrate_matrix(self, matrix: np.ndarray, quantizer: float, codec: str, encoded_size: int,
                         keyframe: bool, width: int, height: int) -> np.ndarray:
        """``matrix`` (predicted loss per block) scaled so that its mean is ``calibrate``'s loss."""
        mean = float(matrix.mean())
        return scaled_to_mean(matrix, mean, self.calibrate(mean, quantizer, codec, encoded_size, keyframe, width, height))

    def to_json(self) -> dict:
        """The JSON document ``from_json`` reads."""
        return {"format": FORMAT, "inputs": list(INPUTS), "trees": self.trees.to_json(), "record": self.record}

    @staticmethod
    def from_json(document: dict) -> "QuantizerCalibration":
        """The calibration in ``to_json``'s form, checked (``ValueError`` if it is not one)."""
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            kind = document.get("format") if isinstance(document, dict) else type(document).__name__
            raise ValueError(f"not a quantizer calibration file (format {kind!r}, expected {FORMAT})")
        if document.get("inputs") != list(INPUTS):
            raise ValueError("quantizer calibration was fitted on other inputs; refit with backdrop train quantizer")
        return QuantizerCalibration(TreeEnsemble.from_json(document.get("trees") or {}), document.get("record", {}))

    @staticmethod
    def load(path: str | Path = DEFAULT_CALIBRATION_PATH) -> "QuantizerCalibration":
        """Read a calibration file."""
        with open(path, encoding="utf-8") as handle:
            return QuantizerCalibration.from_json(json.load(handle))


@functools.lru_cache(maxsize=4)
def load_calibration(path: str = str(DEFAULT_CALIBRATION_PATH)) -> QuantizerCalibration:
    """The quantizer calibration at ``path``, read once per process."""
    return QuantizerCalibration.load(path)
