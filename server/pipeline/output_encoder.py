"""Encode a stream's composites once (VP8, real-time settings) for every viewer."""

from __future__ import annotations

import fractions

import av
import numpy as np

from .messages import EncodedPacket

VIDEO_CLOCK = fractions.Fraction(1, 90_000)
"""The RTP video clock (90 kHz): time base of every encoded packet and frame here."""


class CompositeEncoder:
    """libvpx VP8 at a pinned bitrate; one thread (FACTS.md: more threads stall on this VM)."""

    def __init__(self, bitrate: int) -> None:
        self.bitrate = bitrate
        self._codec: av.CodecContext | None = None
        self._size: tuple[int, int] | None = None

    def encode(self, i420: np.ndarray, width: int, height: int, pts: int, keyframe: bool) -> list[EncodedPacket]:
        """Encode one I420 frame (pts on the 90 kHz RTP clock); a new size restarts with a keyframe."""
        if self._codec is None or self._size != (width, height):
            self._open(width, height)
            keyframe = True
        frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
        frame.pts = pts
        frame.time_base = VIDEO_CLOCK
        if keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        assert self._codec is not None
        return [EncodedPacket(bytes(p), pts, bool(p.is_keyframe)) for p in self._codec.encode(frame)]

    def _open(self, width: int, height: int) -> None:
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.time_base = VIDEO_CLOCK
        codec.bit_rate = self.bitrate
        codec.gop_size = 3000
        codec.qmin, codec.qmax = 2, 56
        codec.thread_count = 1
        rate = str(self.bitrate)
        codec.options = {
            "cpu-used": "-12", "deadline": "realtime", "lag-in-frames": "0", "error-resilient": "1",
            "bufsize": rate, "minrate": rate, "maxrate": rate, "undershoot-pct": "100", "overshoot-pct": "15",
            "static-thresh": "1", "partitions": "0",
        }
        self._codec, self._size = codec, (width, height)
