"""The built-in backgrounds: drawn procedurally, so a first run shows a replaced background at once."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..imaging.default_background import DEFAULT_BACKGROUND_KEY, studio_background


@dataclass(frozen=True)
class BackgroundInfo:
    """A background as the client's picker lists it."""

    id: str
    name: str
    width: int
    height: int


BUILTINS: dict[str, tuple[str, int]] = {
    DEFAULT_BACKGROUND_KEY: ("Studio", 3),
    "builtin:lights": ("Evening lights", 11),
}


class BackgroundCatalog:
    """Looks up backgrounds by key; unknown keys fall back to the default."""

    default_key = DEFAULT_BACKGROUND_KEY

    def list(self) -> list[BackgroundInfo]:
        """Every background a participant can choose."""
        return [BackgroundInfo(key, name, 1280, 720) for key, (name, _) in BUILTINS.items()]

    def has(self, key: str) -> bool:
        """Whether ``key`` names a background."""
        return key in BUILTINS

    def image(self, key: str) -> np.ndarray:
        """The pristine background (BGR) for ``key``; the default if unknown."""
        _, seed = BUILTINS.get(key, BUILTINS[DEFAULT_BACKGROUND_KEY])
        return _render(seed)


@functools.lru_cache(maxsize=8)
def _render(seed: int) -> np.ndarray:
    image = studio_background(1280, 720, seed=seed)
    image.setflags(write=False)
    return image
