"""Cheap media for synthetic participants: footage encoded once, looped as pre-encoded packets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import av
import cv2
import numpy as np
from aiortc import MediaStreamTrack

from ..pipeline.output_encoder import VIDEO_CLOCK, CompositeEncoder
from ..pipeline.messages import EncodedPacket



def encode_loop(frames: Sequence[np.ndarray], bitrate: int, fps: int = 30,
                prepare: Callable[[np.ndarray, int], None] | None = None,
                keyframe_every: int | None = None) -> list[EncodedPacket]:
    """VP8 packets of ``frames`` (BGR, one size), starting with a keyframe so the loop can restart.

    ``prepare(i420, index)`` may draw into each I420 frame before it is encoded. ``keyframe_every``:
    also a keyframe every that many frames (a looped sender cannot answer a keyframe request, so a
    receiver that joins or loses a packet waits at most that long).
    """
    encoder = CompositeEncoder(bitrate)
    height, width = frames[0].shape[:2]
    packets: list[EncodedPacket] = []
    for index, image in enumerate(frames):
        i420 = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
        if prepare is not None:
            prepare(i420, index)
        keyframe = index == 0 or bool(keyframe_every and index % keyframe_every == 0)
        packets.extend(encoder.encode(i420, width, height, index * 90_000 // fps, keyframe))
    return packets


class PacketLoopTrack(MediaStreamTrack):
    """Sends pre-encoded VP8 packets in a loop at ``fps`` (aiortc only packetizes them)."""

    kind = "video"

    def __init__(self, packets: list[EncodedPacket], fps: int = 30) -> None:
        super().__init__()
        if not packets or not packets[0].keyframe:
            raise ValueError("the loop must start with a keyframe")
        self._packets, self._fps = packets, fps
        self._index = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._index / self._fps - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        position = self._index % len(self._packets)
        packet = av.Packet(self._packets[position].data)
        packet.pts = self._index * 90_000 // self._fps
        packet.time_base = VIDEO_CLOCK
        self._sending(position, self._index)
        self._index += 1
        return packet

    def _sending(self, position: int, index: int) -> None:
        """Called as loop packet ``position`` leaves as the ``index``-th frame sent (for subclasses)."""
