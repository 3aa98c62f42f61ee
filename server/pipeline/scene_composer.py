"""A room's shared scene, in a worker: the seats' cut-outs over the matched background, encoded once."""

from __future__ import annotations

import time

from ..imaging.background_variants import LevelSelector, VariantCache
from ..imaging.compositing import fit_background
from ..imaging.scene_matching import compose_scene
from ..imaging.yuv import bgr_to_i420
from .messages import ComposeScene, FrameResult, OpenScene
from .output_encoder import CompositeEncoder


class SceneComposer:
    """Composes and encodes one scene's frames; the background follows the target with hysteresis."""

    def __init__(self, message: OpenScene, variants: VariantCache) -> None:
        if message.width % 2 or message.height % 2 or message.width < 16 or message.height < 16:
            raise ValueError(f"scene size must be even and at least 16x16, got {message.width}x{message.height}")
        self.width, self.height, self.method = message.width, message.height, message.method
        self._variants = variants
        self._levels = LevelSelector()
        self.encoder = CompositeEncoder(message.output_bitrate)
        self.set_background(message.background_key, message.background)

    def set_background(self, key: str, background_bgr) -> None:
        """Switch the scene's background (fitted to the scene size)."""
        self._key = key
        self._background = fit_background(background_bgr, self.width, self.height)

    def compose(self, job: ComposeScene) -> FrameResult:
        """One encoded scene frame."""
        started = time.perf_counter()
        level = self._levels.update(job.target)
        variant = self._variants.variant(self._key, self._background, self.method, level)
        matched = time.perf_counter()
        scene = compose_scene(variant.image, job.cutouts)
        composed = time.perf_counter()
        packets = self.encoder.encode(bgr_to_i420(scene), self.width, self.height, job.pts, job.force_keyframe)
        done = time.perf_counter()
        timings = {"match": (matched - started) * 1000.0, "composite": (composed - matched) * 1000.0,
                   "encode": (done - composed) * 1000.0, "total": (done - started) * 1000.0}
        return FrameResult(job.stream_id, job.sequence, packets, job.target, level, variant.match.params.as_dict(),
                           variant.match.loss if level > 0 else 0.0, job.received_at, timings)

    def close(self) -> None:
        """Nothing to release (the encoder is freed with the object)."""
