"""Receive-only connections that play a broadcast (a participant's composite, or a room's shared scene)
and its audio, answering a client's offer; and the two steps every offer takes (parsed, then applied),
which turn what aiortc cannot use into the client's ``bad_offer``."""

from __future__ import annotations

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InvalidStateError

from .audio_fanout import AudioFanout
from .composite_track import PacketBroadcast
from .peers import answer, close_quietly, new_peer_connection, parse_offer, prefer_codecs
from .signaling_error import SignalingError


def client_offer(sdp: object) -> RTCSessionDescription:
    """A client's offer, else ``SignalingError("bad_offer")``."""
    try:
        return parse_offer(sdp)
    except ValueError as error:
        raise SignalingError("bad_offer", str(error)) from None


async def apply_offer(pc: RTCPeerConnection, offer: RTCSessionDescription) -> None:
    """Apply a remote offer; an SDP aiortc cannot use is the client's error (``bad_offer``), not the
    server's."""
    try:
        await pc.setRemoteDescription(offer)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, InvalidStateError) as error:
        raise SignalingError("bad_offer", f"the offer cannot be used: {error or type(error).__name__}") from None


async def open_viewer(broadcast: PacketBroadcast, audio: AudioFanout | None, offer_sdp: object,
                      public_addresses: tuple[str, ...]) -> tuple[RTCPeerConnection, str]:
    """A new connection playing ``broadcast`` (held to VP8) and ``audio`` when the offer takes them, with
    its answer; an audio-only offer gets the audio alone. The caller owns the connection (closed here
    if answering fails)."""
    offer = client_offer(offer_sdp)
    pc = new_peer_connection()
    try:
        await apply_offer(pc, offer)
        videos = [t for t in pc.getTransceivers() if t.kind == "video"]
        audios = [t for t in pc.getTransceivers() if t.kind == "audio"]
        if not videos and not audios:
            raise SignalingError("no_video", "the offer has no video (or audio) to receive")
        if videos:  # an audio-only offer: a page in scene mode, which sees everyone in the scene
            prefer_codecs(videos[0], ("vp8",))
            sender = pc.addTrack(broadcast.subscribe())
            broadcast.attach_sender(sender)
        if audio is not None and audios:
            pc.addTrack(audio.subscribe())
        return pc, await answer(pc, public_addresses)
    except BaseException:
        await close_viewer(pc)
        raise


async def close_viewer(pc: RTCPeerConnection) -> None:
    """Stop what a viewer's connection plays and close it."""
    for sender in pc.getSenders():
        if sender.track is not None:
            sender.track.stop()
    await close_quietly(pc)
