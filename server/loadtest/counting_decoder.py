"""A load generator should not spend its CPU decoding what it only counts: this decoder returns a
tiny placeholder frame per received video frame instead of decoding it (process-wide switch)."""

from __future__ import annotations

from typing import Any

import aiortc.rtcrtpreceiver as receiver_module
import av


class CountingDecoder:
    """Stands in for a video decoder: one 16x16 black frame per encoded frame, carrying its size."""

    def decode(self, encoded_frame: Any) -> list[av.VideoFrame]:
        frame = av.VideoFrame(16, 16, "yuv420p")
        frame.pts = encoded_frame.timestamp
        frame.opaque = len(encoded_frame.data)
        return [frame]


def count_instead_of_decoding() -> None:
    """Make every aiortc video receiver in this process count frames instead of decoding them."""
    original = receiver_module.get_decoder

    def get_decoder(codec: Any) -> Any:
        return CountingDecoder() if codec.mimeType.lower().startswith("video/") else original(codec)

    receiver_module.get_decoder = get_decoder
