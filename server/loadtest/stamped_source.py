"""A synthetic camera that costs the load generator almost nothing: footage of a person, moved a little,
stamped with the frame code, encoded once into a VP8 loop and sent as pre-encoded packets.

The track remembers when it sent each frame of the loop, so a receiver that reads a code back knows
which send it is looking at (glass-to-glass latency and loss).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import cv2
import numpy as np

from ..pipeline.messages import EncodedPacket
from .framecode import stamp_i420
from .sources import PacketLoopTrack, encode_loop


def moved_footage(frames: Sequence[np.ndarray], count: int, width: int, height: int, seed: int) -> list[np.ndarray]:
    """``count`` BGR frames cycling through ``frames``, scaled to ``width`` x ``height`` and panned a few
    pixels over time (every sender differs a little, and the encoder always has work to do)."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi)
    out = []
    for index in range(count):
        source = cv2.resize(frames[index % len(frames)], (width, height), interpolation=cv2.INTER_AREA)
        shift_x = int(round(6 * np.sin(phase + index / 9)))
        shift_y = int(round(3 * np.cos(phase + index / 13)))
        matrix = np.float32([[1, 0, shift_x], [0, 1, shift_y]])
        out.append(cv2.warpAffine(source, matrix, (width, height), borderMode=cv2.BORDER_REFLECT))
    return out


def stamped_loop(frames: Sequence[np.ndarray], sender_id: int, bitrate: int, fps: int) -> list[EncodedPacket]:
    """One VP8 packet per frame, each frame stamped with ``sender_id`` and its index; a keyframe every
    second (a looped sender cannot answer keyframe requests: a new receiver waits at most that long)."""
    height, width = frames[0].shape[:2]
    packets = encode_loop(frames, bitrate, fps,
                          prepare=lambda i420, index: stamp_i420(i420, width, height, sender_id, index),
                          keyframe_every=fps)
    if len(packets) != len(frames):
        raise RuntimeError(f"expected one packet per frame, got {len(packets)} for {len(frames)} frames")
    return packets


class StampedLoopTrack(PacketLoopTrack):
    """Sends a stamped loop at ``fps``; ``sent(frame_number)`` says when (and as which send) a frame left."""

    def __init__(self, packets: list[EncodedPacket], fps: int = 30) -> None:
        super().__init__(packets, fps)
        self._sent_at = [0.0] * len(packets)
        self._sent_as = [-1] * len(packets)
        self.bytes_sent = 0

    def sent(self, frame_number: int) -> tuple[int, float] | None:
        """(send sequence, monotonic time) of the latest send of loop frame ``frame_number``."""
        position = frame_number % len(self._sent_as)
        sequence = self._sent_as[position]
        return None if sequence < 0 else (sequence, self._sent_at[position])

    def _sending(self, position: int, index: int) -> None:
        self._sent_at[position], self._sent_as[position] = time.monotonic(), index
        self.bytes_sent += len(self._packets[position].data)
