"""Process-wide adjustments to aiortc, installed once by the server at start.

(``offer_loopback_candidates`` is a third, for development and tests on one machine.)

1. The encoded-size tap: aiortc's receiver calls the module-level ``get_decoder(codec)`` and then
   ``decoder.decode(JitterFrame)`` in a thread. Wrapping that factory records each frame's encoded
   byte size, keyframe flag and quantizer and attaches them to the decoded frames as
   ``frame.opaque`` (an ``EncodedInfo``): the bitrate signal of the quality estimate, and the
   quantizer that corrects its level (``imaging.quantizer``: VP8's from the frame header, H.264's
   from the QP map the decoder is asked to export).
2. Marker-bit release: aiortc's jitter buffer hands a frame over only when the next frame's first
   packet arrives (a frame interval of delay, and the last frame before a pause is never released).
   ``MarkerJitterBuffer`` releases a frame as soon as its packets are contiguous up to the one with
   the RTP marker bit (the last packet of a video frame), and gives a missing packet up after
   ``HOLE_SECONDS`` instead of 128 packets later.
3. DTLS with RSA peers: aiortc's DTLS offers only ECDHE-ECDSA cipher suites, so as DTLS client it
   cannot talk to a server whose certificate is RSA (GStreamer's webrtcbin, e.g. simple-whip-client).
   ``RSA_CAPABLE_CIPHERS`` adds the ECDHE-RSA suites; our own certificate stays ECDSA.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import aioice.ice as ice_module
import aiortc.rtcdtlstransport as dtls_module
import aiortc.rtcrtpreceiver as receiver_module
from aiortc.jitterbuffer import JitterBuffer, JitterFrame

from ..imaging.quantizer import H264_DECODER_OPTIONS, frame_quantizer

logger = logging.getLogger(__name__)

RSA_CAPABLE_CIPHERS = (b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA:"
                       b"ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305:"
                       b"ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA")


@dataclass(frozen=True)
class EncodedInfo:
    """What the receiver knew of a frame before decoding it."""

    size: int
    keyframe: bool
    codec: str
    decode_ms: float = 0.0
    quantizer: float | None = None
    """VP8: the frame header's base quantizer index; H.264: the mean QP of the frame's macroblocks;
    None when it could not be read."""


def is_keyframe(codec: str, data: bytes) -> bool:
    """Keyframe flag of a depayloaded frame: VP8 frame tag bit, or an H.264 IDR/SPS NAL unit."""
    if not data:
        return False
    if codec == "vp8":
        return data[0] & 1 == 0
    if codec == "h264":
        index = 0
        while True:
            index = data.find(b"\x00\x00\x01", index)
            if index < 0 or index + 3 >= len(data):
                return False
            if data[index + 3] & 0x1F in (5, 7):
                return True
            index += 3
    return False


class TappingDecoder:
    """Decodes like the wrapped aiortc decoder and stamps each frame with its ``EncodedInfo``."""

    def __init__(self, inner: Any, codec: str) -> None:
        self._inner = inner
        self._codec = codec
        context = getattr(inner, "codec", None)  # aiortc's H.264 decoder: a PyAV context, opened at first use
        if codec == "h264" and context is not None and not getattr(context, "is_open", True):
            context.options = dict(H264_DECODER_OPTIONS)

    def decode(self, encoded_frame: JitterFrame) -> list:
        started = time.perf_counter()
        frames = self._inner.decode(encoded_frame)
        decode_ms = (time.perf_counter() - started) * 1000.0
        size, keyframe = len(encoded_frame.data), is_keyframe(self._codec, encoded_frame.data)
        for frame in frames:
            quantizer = frame_quantizer(self._codec, data=encoded_frame.data, frame=frame)
            frame.opaque = EncodedInfo(size, keyframe, self._codec, decode_ms, quantizer)
        return frames


HOLE_SECONDS = 0.5
"""How long a missing video packet may hold back the packets after it (a NACK's retransmission
usually fills it within a round trip) before the buffer gives it up."""


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, releasing a video frame as soon as its marker-bit packet is in, and
    giving up a missing packet after ``hole_seconds``.

    aiortc's own buffer gives a missing packet up only once ``capacity`` (128) packets have piled up
    behind it: under a loaded loopback that darkened a 1.2 Mbps scene for 2.7 s. Here, once the
    oldest packet has waited ``hole_seconds`` while newer ones kept coming, the buffer skips to the
    first frame that provably starts after the gap (its packet follows a marker packet, or a packet
    of another timestamp) and asks for a keyframe (PLI), as aiortc does when its buffer overflows.
    """

    hole_seconds: float = HOLE_SECONDS

    def __init__(self, capacity: int, prefetch: int = 0, is_video: bool = False) -> None:
        super().__init__(capacity, prefetch, is_video)
        self._stuck: tuple[int, float] | None = None
        """The oldest packet's sequence number, and since when it has held back newer ones."""

    def add(self, packet: Any) -> tuple[bool, JitterFrame | None]:
        pli_flag, frame = super().add(packet)
        if not self._is_video or frame is not None or self._origin is None:
            self._stuck = None
            return pli_flag, frame
        now = time.monotonic()
        stuck = self._stuck
        if stuck is None or stuck[0] != self._origin:
            self._stuck = (self._origin, now)
            return pli_flag, None
        if now - stuck[1] < self.hole_seconds:
            return pli_flag, None
        start = self._frame_start_after_gap()
        if start is None:
            return pli_flag, None
        self.remove(start)
        self._stuck = None
        return True, self._remove_frame(packet.sequence_number)

    def _frame_start_after_gap(self) -> int | None:
        """Offset from the origin of the first packet after the first missing one that provably
        starts a frame; None if there is none yet (or nothing is missing)."""
        packets = [self._packets[(self._origin + count) % self._capacity]  # type: ignore[operator]
                   for count in range(self._capacity)]
        if None not in packets:
            return None
        for offset in range(packets.index(None) + 1, self._capacity):
            before, current = packets[offset - 1], packets[offset]
            if before is None or current is None:
                continue
            if before.marker or before.timestamp != current.timestamp:
                return offset
        return None

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        if self._is_video:
            packets = []
            timestamp = None
            for count in range(self.capacity):
                packet = self._packets[(self._origin + count) % self._capacity]  # type: ignore[operator]
                if packet is None or (timestamp is not None and packet.timestamp != timestamp):
                    break
                timestamp = packet.timestamp
                packets.append(packet)
                if packet.marker:
                    self.remove(count + 1)
                    return JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)  # type: ignore[attr-defined]
        return super()._remove_frame(sequence_number)


def offer_loopback_candidates() -> None:
    """Make aioice gather 127.0.0.1 as a host candidate (it skips loopback), for same-machine clients."""
    if getattr(ice_module, "_backdrop_loopback", False):
        return
    original = ice_module.get_host_addresses

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = original(use_ipv4, use_ipv6)
        return (["127.0.0.1"] if use_ipv4 and "127.0.0.1" not in addresses else []) + addresses

    ice_module.get_host_addresses = get_host_addresses
    ice_module._backdrop_loopback = True


def install() -> None:
    """Install the tap and the marker-bit release (idempotent)."""
    if getattr(receiver_module, "_backdrop_patched", False):
        return
    original_get_decoder = receiver_module.get_decoder

    def get_decoder(codec: Any) -> Any:
        name = codec.mimeType.split("/")[-1].lower()
        decoder = original_get_decoder(codec)
        return TappingDecoder(decoder, name) if name in ("vp8", "h264") else decoder

    receiver_module.get_decoder = get_decoder
    receiver_module.JitterBuffer = MarkerJitterBuffer
    receiver_module._backdrop_patched = True

    original_context = dtls_module.RTCCertificate._create_ssl_context

    def create_ssl_context(self: Any, srtp_profiles: Any) -> Any:
        context = original_context(self, srtp_profiles)
        context.set_cipher_list(RSA_CAPABLE_CIPHERS)
        return context

    dtls_module.RTCCertificate._create_ssl_context = create_ssl_context
    logger.debug("aiortc patched: encoded-size tap, marker-bit release, RSA-capable DTLS")
