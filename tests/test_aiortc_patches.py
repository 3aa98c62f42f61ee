"""The receiver adjustments: marker-bit release, keyframe detection, loopback candidates."""

from __future__ import annotations

import time

from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from server.rtc.aiortc_patches import MarkerJitterBuffer, is_keyframe, offer_loopback_candidates


def packet(sequence: int, timestamp: int, marker: bool, data: bytes) -> RtpPacket:
    rtp = RtpPacket(payload_type=96, sequence_number=sequence, timestamp=timestamp, marker=marker)
    rtp._data = data  # what aiortc's receiver stores after depayloading
    return rtp


def test_a_frame_is_released_on_its_marker_packet() -> None:
    marker_buffer, stock = MarkerJitterBuffer(capacity=128, is_video=True), JitterBuffer(capacity=128, is_video=True)
    for buffer in (marker_buffer, stock):
        assert buffer.add(packet(100, 3000, False, b"ab"))[1] is None
    released = marker_buffer.add(packet(101, 3000, True, b"cd"))[1]
    assert released is not None and released.data == b"abcd" and released.timestamp == 3000
    # aiortc's own buffer waits for the next frame's first packet: one frame interval later.
    assert stock.add(packet(101, 3000, True, b"cd"))[1] is None
    assert stock.add(packet(102, 6000, False, b"ef"))[1].data == b"abcd"


def test_an_incomplete_frame_is_not_released() -> None:
    buffer = MarkerJitterBuffer(capacity=128, is_video=True)
    buffer.add(packet(10, 900, False, b"a"))
    assert buffer.add(packet(12, 900, True, b"c"))[1] is None  # 11 is missing
    released = buffer.add(packet(11, 900, False, b"b"))[1]
    assert released is not None and released.data == b"abc"


def test_keyframe_flags() -> None:
    assert is_keyframe("vp8", bytes([0x10, 0x02, 0x00]))  # frame tag bit 0 clear: keyframe
    assert not is_keyframe("vp8", bytes([0x11, 0x02, 0x00]))
    assert is_keyframe("h264", b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x01\x65\x88")
    assert not is_keyframe("h264", b"\x00\x00\x00\x01\x41\x9a")
    assert not is_keyframe("vp8", b"")


def test_loopback_candidates_are_offered() -> None:
    import aioice.ice

    offer_loopback_candidates()
    assert "127.0.0.1" in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)


def test_a_missing_packet_is_given_up_after_a_while() -> None:
    """Frame 2's middle packet never comes: frame 3 waits ``hole_seconds``, then plays, with a keyframe
    asked for; a retransmission in time fills the gap instead."""
    buffer = MarkerJitterBuffer(capacity=128, is_video=True)
    buffer.hole_seconds = 0.05
    assert buffer.add(packet(1, 100, False, b"a"))[1] is None
    assert buffer.add(packet(2, 100, True, b"b"))[1].data == b"ab"
    buffer.add(packet(3, 200, False, b"c"))  # 4 is lost
    buffer.add(packet(5, 200, True, b"e"))
    assert buffer.add(packet(6, 300, False, b"f")) == (False, None)
    assert buffer.add(packet(7, 300, True, b"g")) == (False, None)  # held back by the gap
    time.sleep(0.06)
    pli, frame = buffer.add(packet(8, 400, False, b"h"))
    assert pli and frame is not None and frame.data == b"fg" and frame.timestamp == 300
    assert buffer.add(packet(9, 400, True, b"i"))[1].data == b"hi"  # and on as usual
    assert buffer.add(packet(4, 200, False, b"d")) == (False, None)  # too late: dropped

    patient = MarkerJitterBuffer(capacity=128, is_video=True)
    patient.hole_seconds = 0.05
    patient.add(packet(3, 200, False, b"c"))
    patient.add(packet(5, 200, True, b"e"))
    patient.add(packet(6, 300, True, b"f"))
    assert patient.add(packet(4, 200, False, b"d"))[1].data == b"cde"  # retransmitted in time
    assert patient.add(packet(7, 400, True, b"g"))[1].data == b"f"


def test_a_gap_with_no_frame_start_after_it_keeps_waiting() -> None:
    """Only the rest of the damaged frame has arrived: nothing provably starts a frame, so nothing
    is released however long the gap lasts."""
    buffer = MarkerJitterBuffer(capacity=128, is_video=True)
    buffer.hole_seconds = 0.01
    buffer.add(packet(1, 100, False, b"a"))  # 2 is lost
    buffer.add(packet(3, 100, False, b"c"))
    time.sleep(0.02)
    assert buffer.add(packet(4, 100, False, b"d")) == (False, None)
