"""Every background a participant can use: the built-in ones (drawn procedurally, so a first run shows
a replaced background at once) and the uploaded ones of the store."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ..imaging.default_background import DEFAULT_BACKGROUND_KEY, studio_background
from ..imaging.room_blur import BLURRED_ROOM_KEY
from .background_store import BackgroundStore
from .lru import LruCache

BUILTINS: dict[str, tuple[str, int]] = {
    DEFAULT_BACKGROUND_KEY: ("Studio", 3),
    "builtin:lights": ("Evening lights", 11),
}
BLURRED_ROOM_NAME = "Blur my room"
"""``BLURRED_ROOM_KEY`` in the picker: the participant's own room, blurred, instead of an image."""
PIPELINE_MAX_SIZE = (1920, 1080)
"""Uploaded backgrounds are handed to the pipeline at most this large (no stream is bigger)."""


@dataclass(frozen=True)
class BackgroundInfo:
    """A background as the client's picker lists it."""

    id: str
    name: str
    width: int
    height: int


class BackgroundCatalog:
    """Looks up backgrounds by key (built-in key or stored id); unknown keys fall back to the default.

    ``image`` decodes files: call it from a thread, not the event loop.
    """

    default_key = DEFAULT_BACKGROUND_KEY

    def __init__(self, store: BackgroundStore | None = None, cache_size: int = 8) -> None:
        self.store = store
        self._decoded: LruCache[np.ndarray] = LruCache(cache_size)

    def list(self) -> list[BackgroundInfo]:
        """Every background a participant can choose: built-ins first, then uploads oldest first."""
        builtins = [BackgroundInfo(key, name, 1280, 720) for key, (name, _) in BUILTINS.items()]
        blurred_room = BackgroundInfo(BLURRED_ROOM_KEY, BLURRED_ROOM_NAME, 0, 0)  # takes the frame's size
        uploads = [BackgroundInfo(r.id, r.name, r.width, r.height) for r in self.store.list()] if self.store else []
        return builtins + [blurred_room] + uploads

    def has(self, key: str) -> bool:
        """Whether ``key`` names a background."""
        return (key in BUILTINS or key == BLURRED_ROOM_KEY
                or (self.store is not None and self.store.get(key) is not None))

    def image(self, key: str) -> np.ndarray:
        """The pristine background (BGR, read-only) for ``key``; the default if unknown or unreadable,
        and for ``BLURRED_ROOM_KEY`` (whose pixels come from each frame: the default stands in where
        an image is needed, as in a shared scene)."""
        if key in BUILTINS:
            return _render(BUILTINS[key][1])
        image = self._decoded.get(key)
        if image is None:
            image = self._load_upload(key)
            if image is None:
                return _render(BUILTINS[DEFAULT_BACKGROUND_KEY][1])
            self._decoded.put(key, image)
        return image

    def forget(self, key: str) -> None:
        """Drop a deleted background's decoded pixels."""
        self._decoded.discard(lambda cached: cached == key)

    def _load_upload(self, key: str) -> np.ndarray | None:
        if self.store is None or self.store.get(key) is None:
            return None
        image = cv2.imread(str(self.store.image_path(key)), cv2.IMREAD_COLOR)
        return None if image is None else fit_for_pipeline(image)


def fit_for_pipeline(image: np.ndarray) -> np.ndarray:
    """A decoded background as the pipeline takes it: at most ``PIPELINE_MAX_SIZE``, read-only."""
    height, width = image.shape[:2]
    scale = min(1.0, PIPELINE_MAX_SIZE[0] / width, PIPELINE_MAX_SIZE[1] / height)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    image.setflags(write=False)
    return image


@functools.lru_cache(maxsize=8)
def _render(seed: int) -> np.ndarray:
    image = studio_background(1280, 720, seed=seed)
    image.setflags(write=False)
    return image
