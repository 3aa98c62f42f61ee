"""Peer connection helpers: codec choice, start-bitrate hints in the answer, answering an offer."""

from __future__ import annotations

import asyncio
import re

from aiortc import sdp as sdp_module
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCRtpTransceiver, RTCSessionDescription

from .nat import announce_public_addresses

BITRATE_HINTS = "x-google-start-bitrate=1500;x-google-min-bitrate=750;x-google-max-bitrate=3000"


def new_peer_connection() -> RTCPeerConnection:
    """A peer connection with no STUN/TURN servers (host candidates only; nothing leaves the machine)."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def prefer_codecs(transceiver: RTCRtpTransceiver, names: tuple[str, ...] = ("vp8",)) -> None:
    """Restrict a video transceiver to the named codecs, in that order, and their RTX.

    Composites are encoded once, in VP8, so everything sent is VP8; ingest may also take H.264.
    """
    codecs = RTCRtpReceiver.getCapabilities("video").codecs
    chosen = [c for name in names for c in codecs if c.mimeType.lower() == f"video/{name}"]
    rtx = [c for c in codecs if c.mimeType.lower() == "video/rtx"]
    transceiver.setCodecPreferences(chosen + rtx)


def offered_direction(sdp: str, mid: str | None) -> str | None:
    """The direction an offer gives the media section ``mid`` (sendrecv, sendonly, ...), or None."""
    media = _media_section(sdp, mid)
    return media.direction if media is not None else None


def offered_codecs(sdp: str, mid: str | None) -> list[str]:
    """Lower-case codec names of the media section ``mid``, in the offer's order."""
    media = _media_section(sdp, mid)
    return [c.mimeType.split("/")[-1].lower() for c in media.rtp.codecs] if media is not None else []


def _media_section(sdp: str, mid: str | None) -> sdp_module.MediaDescription | None:
    try:
        media = sdp_module.SessionDescription.parse(sdp).media
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return next((m for m in media if m.rtp.muxId == mid), None)


def add_bitrate_hints(sdp: str) -> str:
    """Add Chromium's start/min/max bitrate hints to every VP8 and H.264 payload of the SDP.

    Chromium's upload otherwise starts near 250 kbps and drops the resolution (FACTS.md).
    """
    lines = sdp.split("\r\n")
    payloads = {m.group(1) for line in lines
                if (m := re.match(r"a=rtpmap:(\d+) (VP8|H264)/90000", line, re.IGNORECASE))}
    out: list[str] = []
    with_fmtp = set()
    for line in lines:
        match = re.match(r"a=fmtp:(\d+) (.*)", line)
        if match and match.group(1) in payloads:
            with_fmtp.add(match.group(1))
            if "x-google-start-bitrate" not in line:
                line = f"{line};{BITRATE_HINTS}"
        out.append(line)
    result: list[str] = []
    for line in out:
        result.append(line)
        match = re.match(r"a=rtpmap:(\d+) ", line)
        if match and match.group(1) in payloads and match.group(1) not in with_fmtp:
            result.append(f"a=fmtp:{match.group(1)} {BITRATE_HINTS}")
    return "\r\n".join(result)


async def answer(pc: RTCPeerConnection, public_addresses: tuple[str, ...] = ()) -> str:
    """Create and set the local answer (aiortc gathers all candidates first); returns its SDP with hints,
    its host candidates announcing ``public_addresses`` (``nat.announce_public_addresses``)."""
    await pc.setLocalDescription(await pc.createAnswer())
    return announce_public_addresses(add_bitrate_hints(pc.localDescription.sdp), public_addresses)


def parse_offer(sdp: object) -> RTCSessionDescription:
    """An offer from untrusted input, or ValueError."""
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise ValueError("offer must be an SDP string starting with v=0")
    return RTCSessionDescription(sdp=sdp, type="offer")


async def close_quietly(pc: RTCPeerConnection) -> None:
    """Close a peer connection that aiortc may be closing itself (remote hang-up) at the same moment.

    The close runs shielded: a second ``close()`` waits on the first one's future, and cancelling
    that wait would cancel the future too, so that the first close then fails setting its result
    ("Task exception was never retrieved"). Cancelling this coroutine leaves the close running."""
    await asyncio.shield(_close_ignoring_a_concurrent_close(pc))


async def _close_ignoring_a_concurrent_close(pc: RTCPeerConnection) -> None:
    try:
        await pc.close()
    except asyncio.InvalidStateError:
        pass
