"""A participant's own background picture: sent by their page over the signaling socket (one binary
message), checked and normalised as an admin's upload is (``storage.image_intake``: format from the
bytes, pixel count before decoding, orientation, sRGB), and kept in memory for their session only. It
is never stored, never listed to anyone else, and goes when they leave."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..storage.catalog import fit_for_pipeline
from ..storage.image_intake import IntakeLimits, normalise

OWN_PREFIX = "own:"
"""Keys of participants' own pictures: ``own:<participant id>:<upload number>``."""
OWN_MAX_BYTES = 8 * 1024 * 1024
"""Largest own picture (the call page sends a JPEG of at most 1920x1080, a few hundred KB)."""


@dataclass(frozen=True)
class OwnBackground:
    """A participant's own picture, as the pipeline takes it."""

    key: str
    image: np.ndarray
    """BGR, at most ``catalog.PIPELINE_MAX_SIZE``, read-only."""

    def describe(self) -> dict:
        """What the participant's page is told: the key to pick it by, and its size."""
        return {"background": self.key, "width": self.image.shape[1], "height": self.image.shape[0]}


def own_key(participant_id: str, upload: int) -> str:
    """The key of a participant's ``upload``-th own picture (a new key per upload, so no cache of the
    pipeline mistakes one picture for the last)."""
    return f"{OWN_PREFIX}{participant_id}:{upload}"


def decode_own_background(data: bytes, key: str, max_pixels: int) -> OwnBackground:
    """The picture in ``data`` (JPEG, PNG or WebP), or ``ImageRejected`` saying what is wrong with it.
    Blocking (decoding): call it from a thread."""
    normalised = normalise(data, IntakeLimits(max_bytes=OWN_MAX_BYTES, max_pixels=max_pixels))
    image = cv2.imdecode(np.frombuffer(normalised.jpeg, np.uint8), cv2.IMREAD_COLOR)
    return OwnBackground(key, fit_for_pipeline(image))
