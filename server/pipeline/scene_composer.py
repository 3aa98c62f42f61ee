"""A room's shared scene frame: the seats' cut-outs over the matched background, encoded once.

Pure pixel work with no event loop: the server runs it on a thread of its own per scene (OpenCV
and the codec release the GIL), next to the seats' cut-outs it needs, so nothing large crosses a
process boundary.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..imaging.background_variants import LevelSelector, VariantCache
from ..imaging.compositing import fit_background
from ..imaging.scene_matching import SeatCutOut, compose_scene
from ..imaging.validation import require_bgr_image
from .messages import EncodedPacket
from .output_encoder import CompositeEncoder
from .variant_maker import VariantMaker


@dataclass(frozen=True)
class SceneFrame:
    """One encoded scene frame and how its background was matched."""

    packets: list[EncodedPacket]
    level: int
    degradation: dict
    background_loss: float
    timings_ms: dict[str, float] = field(default_factory=dict)


class SceneComposer:
    """Composes and encodes one scene's frames; the background follows the target with hysteresis (a
    level not made yet is made on a thread of its own, the nearest one shows meanwhile). ``close``
    when done."""

    def __init__(self, width: int, height: int, background_key: str, background_bgr: np.ndarray, method: str,
                 output_bitrate: int, variants: VariantCache | None = None) -> None:
        if width % 2 or height % 2 or width < 16 or height < 16:
            raise ValueError(f"scene size must be even and at least 16x16, got {width}x{height}")
        self.width, self.height, self.method = width, height, method
        self._variants = VariantMaker(variants or VariantCache(max_variants=16, max_profiles=2))
        self._levels = LevelSelector()
        self.encoder = CompositeEncoder(output_bitrate)
        self.set_background(background_key, background_bgr)

    def set_background(self, key: str, background_bgr: np.ndarray) -> None:
        """Switch the scene's background (any size: fitted to the scene)."""
        require_bgr_image(background_bgr, "scene background")
        self._key = key
        self._background = fit_background(background_bgr, self.width, self.height)

    def compose(self, cutouts: list[SeatCutOut], target: float, pts: int, keyframe: bool) -> SceneFrame:
        """The scene with ``cutouts`` over the background matched to ``target``, encoded (pts on the
        90 kHz clock)."""
        started = time.perf_counter()
        level = self._levels.update(target, pts / 90_000)
        variant = self._variants.variant(self._key, self._background, self.method, level)
        matched = time.perf_counter()
        assert variant.i420 is not None  # the scene size is even
        scene = compose_scene(variant.i420, self.width, self.height, cutouts)
        composed = time.perf_counter()
        packets = self.encoder.encode(scene, self.width, self.height, pts, keyframe)
        done = time.perf_counter()
        timings = {"match": (matched - started) * 1000.0, "composite": (composed - matched) * 1000.0,
                   "encode": (done - composed) * 1000.0, "total": (done - started) * 1000.0}
        return SceneFrame(packets, variant.level, variant.match.params.as_dict(),
                          variant.match.loss if variant.level > 0 else 0.0, timings)

    def close(self) -> None:
        """Stop making background variants."""
        self._variants.close()
