"""A participant's own background picture: sent by their page over the signaling socket (one binary
message), checked and normalised as an admin's upload is (``storage.image_intake``: format from the
bytes, pixel count before decoding, orientation, sRGB), and kept in memory for their session only. It
is never stored, never listed to anyone else, and goes when they leave."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from ..storage.catalog import fit_for_pipeline
from ..storage.image_intake import IntakeLimits, normalise

OWN_PREFIX = "own:"
"""Keys of participants' own pictures: ``own:<participant id>:<upload number>``."""
OWN_MAX_BYTES = 8 * 1024 * 1024
"""Largest own picture (the call page sends a JPEG of at most 1920x1080, a few hundred KB)."""
OWN_PICTURES_PER_MINUTE = 10
"""Pictures a participant may send a minute: each is decoded on the server's threads."""


@dataclass(frozen=True)
class OwnBackground:
    """A participant's own picture, as the pipeline takes it."""

    key: str
    image: np.ndarray
    """BGR, at most ``catalog.PIPELINE_MAX_SIZE``, read-only."""

    def describe(self) -> dict:
        """What the participant's page is told: the key to pick it by, and its size."""
        return {"background": self.key, "width": self.image.shape[1], "height": self.image.shape[0]}


class OwnPictures:
    """A participant's own pictures: the one in use, and the pace they are sent at."""

    def __init__(self, participant_id: str, per_minute: int = OWN_PICTURES_PER_MINUTE) -> None:
        self.participant_id, self.per_minute = participant_id, per_minute
        self.current: OwnBackground | None = None
        """The picture in use (the last one taken)."""
        self.sent = 0
        self._recent: deque[float] = deque()  # when the pictures of the last minute were sent

    def next_key(self, now: float) -> str | None:
        """The key for a picture sent at ``now`` (monotonic seconds), or None if ``per_minute`` were
        sent in the minute before."""
        while self._recent and now - self._recent[0] >= 60.0:
            self._recent.popleft()
        if len(self._recent) >= self.per_minute:
            return None
        self._recent.append(now)
        self.sent += 1
        return own_key(self.participant_id, self.sent)

    def has(self, key: str) -> bool:
        """Whether ``key`` names the picture in use."""
        return self.current is not None and self.current.key == key


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
