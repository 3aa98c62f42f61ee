"""One encoded composite fanned out to viewers: each starts at a keyframe, a viewer that falls behind
skips to the next one, and a viewer waiting for a keyframe keeps asking (debounced) until it gets one."""

from __future__ import annotations

import asyncio
import time

from server.pipeline.messages import EncodedPacket
from server.rtc.composite_track import KEYFRAME_DEBOUNCE_S, MAX_QUEUED_PACKETS, PacketBroadcast


def packet(pts: int, keyframe: bool = False) -> EncodedPacket:
    return EncodedPacket(bytes([pts % 256]) * 10, pts, keyframe)


class Requests:
    """The encoder's side of keyframe requests: counts them."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def test_a_viewer_starts_at_a_keyframe_and_skips_to_the_next_when_behind() -> None:
    async def scenario() -> None:
        requests = Requests()
        broadcast = PacketBroadcast(requests)
        track = broadcast.subscribe()
        assert requests.count == 1  # a new viewer asks for a keyframe at once
        broadcast.publish(packet(1))  # nothing to start from
        broadcast.publish(packet(2, keyframe=True))
        broadcast.publish(packet(3))
        assert [(await track.recv()).pts for _ in range(2)] == [2, 3]
        for pts in range(4, 4 + MAX_QUEUED_PACKETS + 1):  # the viewer stops reading: its queue overflows
            broadcast.publish(packet(pts))
        broadcast.publish(packet(100, keyframe=True))
        assert (await track.recv()).pts == 100  # the stale frames were dropped, not queued
        track.stop()
        assert broadcast.viewers == 0

    asyncio.run(scenario())


def test_a_viewer_waiting_for_a_keyframe_asks_again_while_frames_go_by() -> None:
    """The keyframe asked for when the viewer joined never came (the frame that carried the request was
    lost): the viewer asks again, at most once per debounce interval, and plays from the keyframe."""

    async def scenario() -> None:
        requests = Requests()
        broadcast = PacketBroadcast(requests)
        track = broadcast.subscribe()
        reading = asyncio.ensure_future(track.recv())  # the connection is up: the sender reads
        await asyncio.sleep(0)
        asked_at_join = requests.count
        started = time.monotonic()
        pts = 0
        while time.monotonic() - started < 3.5 * KEYFRAME_DEBOUNCE_S:  # inter frames at ~100 fps
            pts += 1
            broadcast.publish(packet(pts))
            await asyncio.sleep(0.01)
        again = requests.count - asked_at_join
        assert 2 <= again <= 4, again  # about one per debounce interval (3), not one per frame (~100)
        assert not reading.done()
        broadcast.publish(packet(pts + 1, keyframe=True))
        assert (await asyncio.wait_for(reading, 1.0)).pts == pts + 1
        count = requests.count
        broadcast.publish(packet(pts + 2))
        assert requests.count == count  # playing again: no more requests
        track.stop()

    asyncio.run(scenario())
