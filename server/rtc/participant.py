"""One participant: their published camera and microphone, their composite, and what they watch."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from ..pipeline.messages import CutOutResult, FrameResult, StreamFailed
from ..pipeline.pool import WorkerPool
from .aiortc_patches import EncodedInfo
from .audio_fanout import AudioFanout
from .composite_track import CompositeTrack, PacketBroadcast
from .own_backgrounds import OwnPictures
from .peers import close_quietly

logger = logging.getLogger(__name__)

EventSender = Callable[[dict], Awaitable[None]]
SeatSink = Callable[[str, CutOutResult], None]

CAMERA_OFF_FPS = 2.0
"""Frames a second the pipeline takes from a participant whose camera is off (a browser keeps sending
black frames at its full rate): enough to keep their composite, the bare background, alive for
viewers at a fifteenth of the cost. Each one is blanked first, so nothing of the camera shows even
if the client keeps sending it."""


class StreamObserver(Protocol):
    """Told about every camera frame received and every composite made (e.g. server metrics)."""

    def frame_received(self, info: EncodedInfo | None) -> None: ...
    def frame_composited(self, result: FrameResult, latency_s: float) -> None: ...


@dataclass
class StreamStats:
    """Live figures of one participant's composite stream."""

    frames_in: int = 0
    frames_out: int = 0
    frames_failed: int = 0
    masks_reused: int = 0
    quality: float | None = None
    level: int | None = None
    degradation: dict = field(default_factory=dict)
    background_loss: float | None = None
    codec: str | None = None
    width: int = 0
    height: int = 0
    last_error: str | None = None
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=300))
    out_times: deque = field(default_factory=lambda: deque(maxlen=120))
    stage_ms: dict = field(default_factory=dict)

    def fps(self) -> float:
        """Composites per second over the last few seconds."""
        now = time.monotonic()
        recent = [t for t in self.out_times if now - t <= 2.0]
        return len(recent) / 2.0 if recent else 0.0

    def as_dict(self) -> dict:
        """JSON-friendly summary."""
        latencies = np.array(self.latencies_ms) if self.latencies_ms else None
        return {
            "frames_in": self.frames_in, "frames_out": self.frames_out, "frames_failed": self.frames_failed,
            "masks_reused": self.masks_reused,
            "quality": None if self.quality is None else round(self.quality, 4), "level": self.level,
            "degradation": self.degradation, "background_loss": self.background_loss,
            "codec": self.codec, "width": self.width, "height": self.height, "fps": round(self.fps(), 1),
            "latency_ms": None if latencies is None else {
                "p50": round(float(np.percentile(latencies, 50)), 2), "p95": round(float(np.percentile(latencies, 95)), 2)},
            "stage_ms": {stage: round(float(np.median(values)), 2) for stage, values in self.stage_ms.items()},
            "last_error": self.last_error,
        }


class Participant:
    """A member of a room. Owns its publish connection, ingest task, composite broadcast and audio."""

    def __init__(self, participant_id: str, name: str, room: str, probe: bool, send_event: EventSender,
                 pool: WorkerPool, observer: StreamObserver | None = None) -> None:
        self.id, self.name, self.room, self.probe = participant_id, name, room, probe
        self.observer = observer
        self.send_event = send_event
        self.pool = pool
        self.stats = StreamStats()
        self.broadcast = PacketBroadcast(lambda: pool.request_keyframe(self.stream_id))
        self.publish_pc: RTCPeerConnection | None = None
        # Exists from the join: others subscribe at once, the microphone is attached when it arrives.
        self.audio = AudioFanout(muted=lambda: not self.microphone_on)
        self.viewer_pcs: dict[str, RTCPeerConnection] = {}  # publisher id -> connection watching them
        self.external_viewers: set[RTCPeerConnection] = set()  # WHEP players of this participant's composite
        self.codec = "vp8"  # of the camera stream: from the offer, corrected by the tap if it differs
        self.return_track: CompositeTrack | None = None  # what comes back on the publish connection
        self.return_sender: RTCRtpSender | None = None
        self.scene_sink: SeatSink | None = None  # the room's scene, while this participant has a seat
        self.stream_open = False
        self._ingest: asyncio.Task | None = None
        self.background_key: str | None = None  # the participant's own choice
        self.own_pictures = OwnPictures(participant_id)  # the pictures they sent, for this session only
        self.statistic: str | None = None  # the participant's own choice
        self.applied_background: str | None = None  # what their composite uses now
        self.speaking = False  # as the voice activity of ``audio`` last said (Conference tells the room)
        self.microphone_on = True  # as they or a moderator set it (Conference.set_media); enforced here
        self.camera_on = True

    @property
    def stream_id(self) -> str:
        """The pipeline stream of this participant's camera."""
        return f"{self.room}/{self.id}"

    def describe(self) -> dict:
        """Public description for room events."""
        return {"id": self.id, "name": self.name, "microphone": self.microphone_on, "camera": self.camera_on}

    @property
    def ingesting(self) -> bool:
        """Whether the camera track is being read."""
        return self._ingest is not None

    def start_ingest(self, track: MediaStreamTrack) -> None:
        """Feed the camera track's frames to the worker pool (newest wins there)."""
        self._ingest = asyncio.ensure_future(self._run_ingest(track))

    def show(self, broadcast: PacketBroadcast) -> None:
        """Play ``broadcast`` (own composite or the room's scene) back on the publish connection."""
        if self.return_track is not None and self.return_sender is not None:
            self.return_track.switch(broadcast)
            broadcast.attach_sender(self.return_sender)

    def on_result(self, result: FrameResult | CutOutResult | StreamFailed) -> None:
        """Pool callback: fan the encoded composite out (or hand a scene cut-out on) and record figures."""
        if isinstance(result, StreamFailed):
            self.stats.frames_failed += 1
            self.stats.last_error = result.error
            return
        now = time.monotonic()
        if isinstance(result, CutOutResult):
            self.stats.frames_out += 1
            self.stats.masks_reused += result.mask_reused
            self.stats.out_times.append(now)
            self.stats.quality, self.stats.level = result.quality, None
            self.stats.degradation, self.stats.background_loss = {}, None
            if self.scene_sink is not None:
                self.scene_sink(self.id, result)
            return
        for packet in result.packets:
            self.broadcast.publish(packet)
        self.stats.frames_out += 1
        self.stats.masks_reused += result.mask_reused
        self.stats.out_times.append(now)
        self.stats.latencies_ms.append((now - result.received_at) * 1000.0)
        if self.observer is not None:
            self.observer.frame_composited(result, now - result.received_at)
        self.stats.quality, self.stats.level = result.quality, result.level
        self.stats.degradation, self.stats.background_loss = result.degradation, round(result.background_loss, 4)
        for stage, value in result.timings_ms.items():
            self.stats.stage_ms.setdefault(stage, deque(maxlen=120)).append(value)

    async def close(self) -> None:
        """Release everything: ingest task, pool stream, tracks, peer connections."""
        if self._ingest:
            self._ingest.cancel()
            try:
                await self._ingest
            except (asyncio.CancelledError, Exception):
                pass
        if self.stream_open:
            self.pool.close_stream(self.stream_id)
            self.stream_open = False
        self.broadcast.close()
        await self.audio.close()
        connections = list(self.viewer_pcs.values()) + list(self.external_viewers)
        connections += [self.publish_pc] if self.publish_pc else []
        self.viewer_pcs.clear()
        self.external_viewers.clear()
        await asyncio.gather(*(close_quietly(pc) for pc in connections))

    async def _run_ingest(self, track: MediaStreamTrack) -> None:
        camera_off_taken = -1.0  # when the last frame was taken while the camera was off
        try:
            while True:
                frame = await track.recv()
                received = time.monotonic()
                info = frame.opaque if isinstance(frame.opaque, EncodedInfo) else None
                self.stats.frames_in += 1
                if self.observer is not None:
                    self.observer.frame_received(info)
                if not self.camera_on:
                    if received - camera_off_taken < 1.0 / CAMERA_OFF_FPS:
                        continue
                    camera_off_taken = received
                if frame.width % 2 or frame.height % 2:
                    frame = frame.reformat(width=frame.width & ~1, height=frame.height & ~1)
                i420 = frame.to_ndarray(format="yuv420p") if self.camera_on else blank_i420(frame.width, frame.height)
                self.stats.width, self.stats.height = frame.width, frame.height
                if info:
                    self.stats.codec = info.codec
                    if info.codec != self.codec and self.stream_open:
                        self.codec = info.codec  # the stream's quality model and background codec follow
                        self.pool.set_codec(self.stream_id, info.codec)
                timestamp_ms = int(frame.time * 1000) if frame.time is not None else int(received * 1000)
                self.pool.submit(self.stream_id, i420, info.size if info else 0, info.keyframe if info else False,
                                 timestamp_ms, int(frame.pts or 0), received, info.quantizer if info else None)
        except MediaStreamError:
            logger.info("participant %s: camera track ended", self.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("participant %s: ingest failed", self.id)


def blank_i420(width: int, height: int) -> np.ndarray:
    """A black I420 frame (video range: luma 16, neutral chroma), as ``to_ndarray("yuv420p")`` lays it out."""
    frame = np.full((height * 3 // 2, width), 128, np.uint8)
    frame[:height] = 16
    return frame
