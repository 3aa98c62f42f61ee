"""Encode a stream's composites once (VP8, real-time settings) for every viewer, at a bitrate that
follows the incoming stream's."""

from __future__ import annotations

import collections
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

    def set_bitrate(self, bitrate: int) -> None:
        """Encode at ``bitrate`` from the next frame on (libvpx through PyAV cannot change it live: the
        encoder restarts with a keyframe)."""
        if bitrate != self.bitrate:
            self.bitrate = bitrate
            self._codec = None

    def encode(self, i420: np.ndarray, width: int, height: int, pts: int, keyframe: bool) -> list[EncodedPacket]:
        """Encode one I420 frame (pts on the 90 kHz RTP clock); a new size or bitrate restarts with a keyframe."""
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


class OutputBitrate:
    """Chooses a composite's bitrate from the incoming stream's: ``ratio`` times what arrives, within
    [``floor``, ``cap``].

    The composite's person is a re-encode of an already compressed picture and its background is
    degraded to match, so bits far beyond the sender's buy little. Measured on 640x480 VP8 (extra
    1 - SSIM of the re-encode over the input's own loss): at 2x the input 0.005-0.013, at 1.2 Mbps
    0.002-0.004 -- while every extra packet costs the server and each viewer CPU (at 6 participants of
    300 kbps, 1.2 Mbps composites held 21 fps, 600 kbps 26 fps). Changes need a factor of ``hysteresis``
    and ``min_interval`` seconds between them (each one restarts the encoder with a keyframe).
    """

    def __init__(self, cap: int, floor: int = 300_000, ratio: float = 2.0, window: float = 2.0,
                 hysteresis: float = 1.4, min_interval: float = 4.0) -> None:
        if cap <= 0 or floor <= 0 or ratio <= 0 or window <= 0 or hysteresis < 1.0:
            raise ValueError("bitrate cap, floor, ratio and window must be positive, hysteresis >= 1")
        self.cap, self.floor, self.ratio = cap, min(floor, cap), ratio
        self.window, self.hysteresis, self.min_interval = window, hysteresis, min_interval
        self.current = cap
        self._frames: collections.deque[tuple[float, int]] = collections.deque()
        self._bytes = 0
        self._changed_at: float | None = None

    def incoming_bitrate(self) -> float | None:
        """Bits per second arriving over the window, once the window has filled."""
        if len(self._frames) < 2 or self._frames[-1][0] - self._frames[0][0] < 0.75 * self.window:
            return None
        span = self._frames[-1][0] - self._frames[0][0]
        return 8.0 * (self._bytes - self._frames[0][1]) / span

    def update(self, arrived_at: float, encoded_size: int) -> int:
        """Account one incoming frame (arrival time in seconds, size in bytes); the bitrate to encode at."""
        self._frames.append((arrived_at, int(encoded_size)))
        self._bytes += int(encoded_size)
        while self._frames and arrived_at - self._frames[0][0] > self.window:
            self._bytes -= self._frames.popleft()[1]
        incoming = self.incoming_bitrate()
        if incoming is None:
            return self.current
        wanted = int(min(self.cap, max(self.floor, self.ratio * incoming)))
        if self._changed_at is None:  # the first measurement applies at once
            settled = True
        else:
            settled = arrived_at - self._changed_at >= self.min_interval
        if settled and max(wanted, self.current) > self.hysteresis * min(wanted, self.current):
            self.current, self._changed_at = wanted, arrived_at
        elif self._changed_at is None:
            self._changed_at = arrived_at
        return self.current
