from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import VideoStreamTrack

from server.rtc.peers import BITRATE_HINTS, add_bitrate_hints, close_quietly, parse_offer

ANSWER = "\r\n".join([
    "v=0", "m=video 9 UDP/TLS/RTP/SAVPF 97 98", "a=rtpmap:97 VP8/90000", "a=rtpmap:98 rtx/90000",
    "a=fmtp:98 apt=97", "m=video 9 UDP/TLS/RTP/SAVPF 102", "a=rtpmap:102 H264/90000",
    "a=fmtp:102 packetization-mode=1;profile-level-id=42e01f", "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "a=rtpmap:111 opus/48000/2", "",
])


def test_video_payloads_get_start_bitrate_hints() -> None:
    out = add_bitrate_hints(ANSWER).split("\r\n")
    assert f"a=fmtp:97 {BITRATE_HINTS}" in out  # VP8 had no fmtp line: one is added
    assert f"a=fmtp:102 packetization-mode=1;profile-level-id=42e01f;{BITRATE_HINTS}" in out
    assert "a=fmtp:98 apt=97" in out  # RTX untouched
    assert not any("x-google" in line and "111" in line for line in out)  # audio untouched
    assert add_bitrate_hints(add_bitrate_hints(ANSWER)) == add_bitrate_hints(ANSWER)


@pytest.mark.parametrize("sdp", [None, 42, "", "hello", {"sdp": "v=0"}])
def test_bad_offers_are_rejected(sdp: object) -> None:
    with pytest.raises(ValueError, match="SDP"):
        parse_offer(sdp)


async def _connected_pair() -> tuple[RTCPeerConnection, RTCPeerConnection]:
    """Two aiortc peers on loopback, one sending video to the other, connected."""
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    sender.addTrack(VideoStreamTrack())
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    for _ in range(400):
        if sender.connectionState == receiver.connectionState == "connected":
            return sender, receiver
        await asyncio.sleep(0.05)
    raise AssertionError("the loopback peers did not connect")


def test_a_cancelled_close_quietly_does_not_break_a_close_already_under_way() -> None:
    """aiortc closes a peer itself when the remote hangs up; a second close waits on the first's
    future. Cancelling that waiter (a participant leaving while a close is pending) must not make
    the first close fail."""
    async def scenario() -> None:
        sender, receiver = await _connected_pair()
        try:
            first = asyncio.ensure_future(sender.close())  # as aiortc's own close on a hang-up
            await asyncio.sleep(0)
            second = asyncio.ensure_future(close_quietly(sender))
            for _ in range(3):
                await asyncio.sleep(0)
            assert not first.done()
            second.cancel()
            await first  # raised InvalidStateError when the waiter's cancellation reached aiortc's future
            assert sender.connectionState == "closed"
            with pytest.raises(asyncio.CancelledError):
                await second
        finally:
            await close_quietly(receiver)
            await close_quietly(sender)

    asyncio.run(scenario())
