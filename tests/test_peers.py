from __future__ import annotations

import pytest

from server.rtc.peers import BITRATE_HINTS, add_bitrate_hints, parse_offer

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
