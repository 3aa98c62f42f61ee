"""Messages between the server process and its pipeline workers (one dataclass each; pickled)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..imaging.scene_layout import Box
from ..imaging.scene_matching import SeatCutOut
from .frame_processor import ProcessorSettings


@dataclass(frozen=True)
class OpenStream:
    """Start processing a stream on this worker."""

    stream_id: str
    codec: str
    background_key: str
    background: np.ndarray
    settings: ProcessorSettings
    output_bitrate: int
    probe: bool = False


@dataclass(frozen=True)
class SetBackground:
    """Switch a stream's background."""

    stream_id: str
    background_key: str
    background: np.ndarray


@dataclass(frozen=True)
class SetProbe:
    """Turn a stream's latency-probe corner pass-through on or off (shared/FRAMECODE.md)."""

    stream_id: str
    probe: bool


@dataclass(frozen=True)
class SetStatistic:
    """Change the statistic reducing a stream's quality matrix."""

    stream_id: str
    statistic: str


@dataclass(frozen=True)
class SetSceneSeat:
    """Make a stream a seat of a shared scene (``seat`` in scene pixels, its cut-outs degraded by
    ``extra_loss``, what brings it to the scene's target), or, with ``seat`` None, an individual
    composite again."""

    stream_id: str
    seat: Box | None
    extra_loss: float = 0.0


@dataclass(frozen=True)
class FrameJob:
    """A decoded frame waiting in shared memory (I420, ``width`` x ``height``)."""

    stream_id: str
    sequence: int
    shm_name: str
    width: int
    height: int
    encoded_size: int
    keyframe: bool
    timestamp_ms: int
    pts: int
    force_keyframe: bool
    received_at: float
    """time.monotonic() when the server received the frame (one clock for all processes)."""
    arrived_bytes: int = 0
    """Encoded bytes received for this stream since the previous job, frames dropped on the way
    included (the incoming bitrate); 0: just this frame's."""
    quantizer: float | None = None
    """The frame's quantizer as the receiver read it (``imaging.quantizer``), or None."""


@dataclass(frozen=True)
class CloseStream:
    """Release a stream's processor and encoder."""

    stream_id: str


@dataclass(frozen=True)
class Stop:
    """End the worker."""


@dataclass(frozen=True)
class EncodedPacket:
    """One encoded composite frame."""

    data: bytes
    pts: int
    keyframe: bool


@dataclass(frozen=True)
class FrameResult:
    """What a worker returns for a ``FrameJob``."""

    stream_id: str
    sequence: int
    packets: list[EncodedPacket]
    quality: float
    level: int
    degradation: dict
    background_loss: float
    received_at: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    mask_reused: bool = False
    """The frame was composited with the previous frame's mask (the stream was falling behind)."""


@dataclass(frozen=True)
class CutOutResult:
    """What a worker returns for a ``FrameJob`` of a stream seated in a scene."""

    stream_id: str
    sequence: int
    cutout: SeatCutOut
    quality: float
    """The frame's own estimated loss, before matching."""
    level: int
    added_loss: float
    """Extra loss added to match the scene's target."""
    received_at: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    mask_reused: bool = False


@dataclass(frozen=True)
class StreamFailed:
    """A stream's job could not be done (corrupt frame, bad settings); the worker keeps serving others."""

    stream_id: str
    sequence: int
    error: str


@dataclass(frozen=True)
class Ready:
    """A worker has imported everything and waits for work."""

    pid: int
