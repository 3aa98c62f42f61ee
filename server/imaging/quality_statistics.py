"""The statistics that reduce a quality matrix (predicted loss per 16x16 block) to one value.

``mean``, ``median``, ``max`` and ``pNN`` (a percentile, e.g. ``p90``) reduce every block of the
frame. Each also exists over the person only (``person-mean``, ``person-p90``...): the blocks the
person covers at least half of. The background is matched to the person standing in front of it, and
the camera's own room, which the virtual background replaces, may have lost more or less than the
person: a sharp face before a textured bookshelf that the codec smeared, or a blurred person before a
flat wall. A frame with too little of a person in view (fewer blocks than ``MIN_PERSON_SHARE`` of the
frame, and at least one) is reduced whole, so that an empty seat still gets a background that matches
the picture.
"""

from __future__ import annotations

import re

import cv2
import numpy as np

from .features import BLOCK

STATISTICS: tuple[str, ...] = ("mean", "median", "max", "p90", "p95")
"""The statistics over the whole frame a user picks from (any ``pNN`` works too)."""
PERSON_PREFIX = "person-"
PERSON_STATISTICS: tuple[str, ...] = tuple(PERSON_PREFIX + statistic for statistic in STATISTICS)
"""The same statistics over the person only."""
MIN_PERSON_SHARE = 0.02
"""Below this share of the frame's blocks covered by the person, a person statistic reduces the whole
frame."""
PERSON_COVERAGE = 0.5
"""A block belongs to the person when the person mask covers at least this share of it."""

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")
_RULE = "mean, median, max or pNN (e.g. p90), each over the whole frame or over the person (person-mean...)"


def over_person(statistic: str) -> bool:
    """Whether ``statistic`` reduces the blocks the person covers (it needs the person's mask)."""
    return isinstance(statistic, str) and statistic.startswith(PERSON_PREFIX)


def person_blocks(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per block of a ``shape`` (rows, columns) quality matrix: whether the person covers at least
    ``PERSON_COVERAGE`` of it. ``mask`` is the segmenter's (float, frame height x width, 0..1)."""
    rows, cols = shape
    if mask.ndim != 2 or mask.shape[0] < rows * BLOCK or mask.shape[1] < cols * BLOCK:
        raise ValueError(f"the person mask must be a 2-D map of the frame (at least {rows * BLOCK}x{cols * BLOCK} "
                         f"for a {rows}x{cols} block matrix), got shape {mask.shape}")
    cropped = np.ascontiguousarray(mask[: rows * BLOCK, : cols * BLOCK], dtype=np.float32)
    return cv2.resize(cropped, (cols, rows), interpolation=cv2.INTER_AREA) >= PERSON_COVERAGE


def reduce_matrix(matrix: np.ndarray, statistic: str, person: np.ndarray | None = None) -> float:
    """Reduce a loss matrix with ``statistic`` (``mean``, ``median``, ``max``, ``pNN``, or one of them
    over the person: ``person-mean``...). ``person``: per block, whether the person covers it
    (``person_blocks``); a person statistic needs it, the others ignore it."""
    if over_person(statistic):
        if person is None:
            raise ValueError(f"statistic {statistic!r} reduces the blocks the person covers: it needs the "
                             "person's mask")
        if person.shape != matrix.shape:
            raise ValueError(f"the person's blocks {person.shape} do not match the quality matrix {matrix.shape}")
        if person.sum() >= max(1.0, MIN_PERSON_SHARE * person.size):
            matrix = matrix[person]
        statistic = statistic[len(PERSON_PREFIX):]
    if statistic == "mean":
        return float(matrix.mean())
    if statistic == "median":
        return float(np.median(matrix))
    if statistic == "max":
        return float(matrix.max())
    match = _PERCENTILE.match(statistic) if isinstance(statistic, str) else None
    if match:
        return float(np.percentile(matrix, float(match.group(1))))
    raise ValueError(f"unknown statistic {statistic!r}; expected {_RULE}")


def check_statistic(statistic: object) -> str:
    """Return ``statistic`` if it is a known statistic, else raise ValueError."""
    if not isinstance(statistic, str):
        raise ValueError(f"unknown statistic {statistic!r}; expected {_RULE}")
    reduce_matrix(np.zeros((1, 1), np.float32), statistic, np.ones((1, 1), bool))
    return statistic
