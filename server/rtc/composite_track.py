"""Encode once, send to every viewer: a stream's encoded composites fan out to per-viewer tracks.

``PacketBroadcast`` belongs to one composite stream (one encoder, in a worker). Each viewer gets a
``CompositeTrack`` whose ``recv`` returns the shared packets as ``av.Packet`` (aiortc then only
packetizes them). A viewer that falls behind skips to the next keyframe instead of queueing stale
video. Keyframe requests (a viewer's PLI, a new viewer, a skipping viewer, and again while a viewer
waits) reach the one encoder, debounced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import av
from aiortc import MediaStreamTrack, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from ..pipeline.messages import EncodedPacket
from ..pipeline.output_encoder import VIDEO_CLOCK

logger = logging.getLogger(__name__)

# Encoded video cannot drop single frames: skipping means waiting for a keyframe, which costs every
# viewer. A queue of 3 overflowed on event-loop hiccups and fed a keyframe storm under load; 8 (at most
# 0.27 s, only while a sender stalls) measured no storm (scripts/bench_server.py).
MAX_QUEUED_PACKETS = 8
KEYFRAME_DEBOUNCE_S = 0.3


class PacketBroadcast:
    """The viewers of one composite stream and the way back to its encoder."""

    def __init__(self, request_keyframe: Callable[[], None]) -> None:
        self._request_keyframe = request_keyframe
        self._tracks: set[CompositeTrack] = set()
        self._last_request = 0.0
        self.packets_sent = 0
        self.keyframe_requests = 0

    @property
    def viewers(self) -> int:
        """How many tracks are subscribed."""
        return len(self._tracks)

    def subscribe(self) -> "CompositeTrack":
        """A new viewer track; it starts at the next keyframe, which is requested now."""
        track = CompositeTrack(self)
        self._tracks.add(track)
        self.request_keyframe(force=True)
        return track

    def adopt(self, track: "CompositeTrack") -> None:
        """Start delivering to a track that switched over from another stream."""
        self._tracks.add(track)

    def unsubscribe(self, track: "CompositeTrack") -> None:
        """Forget a viewer track."""
        self._tracks.discard(track)

    def publish(self, packet: EncodedPacket) -> None:
        """Hand one encoded frame to every viewer."""
        for track in list(self._tracks):
            track.offer(packet)
        self.packets_sent += 1

    def request_keyframe(self, force: bool = False) -> None:
        """Ask the encoder for a keyframe (at most one per debounce interval unless forced)."""
        now = time.monotonic()
        if force or now - self._last_request >= KEYFRAME_DEBOUNCE_S:
            self._last_request = now
            self.keyframe_requests += 1
            self._request_keyframe()

    def close(self) -> None:
        """End every viewer track."""
        for track in list(self._tracks):
            track.stop()
        self._tracks.clear()

    def attach_sender(self, sender: RTCRtpSender) -> None:
        """Route a sender's keyframe requests (PLI/FIR) to the shared encoder.

        aiortc's sender only sets a private flag on PLI, which the pre-encoded path never reads.
        """
        sender._send_keyframe = lambda: self.request_keyframe()  # type: ignore[method-assign]


class CompositeTrack(MediaStreamTrack):
    """One viewer's view of a composite stream: pre-encoded packets, newest first."""

    kind = "video"

    def __init__(self, broadcast: PacketBroadcast) -> None:
        super().__init__()
        self._broadcast = broadcast
        self._queue: asyncio.Queue[EncodedPacket | None] = asyncio.Queue()
        self._waiting_for_keyframe = True
        self._reading = False  # the sender starts reading only once its connection is up

    def switch(self, broadcast: PacketBroadcast) -> None:
        """Play another composite stream from its next keyframe on (the sender keeps reading this
        track, so its connection is not renegotiated)."""
        if broadcast is self._broadcast:
            return
        self._broadcast.unsubscribe(self)
        self._broadcast = broadcast
        broadcast.adopt(self)
        self._waiting_for_keyframe = True
        broadcast.request_keyframe(force=True)

    def offer(self, packet: EncodedPacket) -> None:
        """Queue a packet; past a few queued, drop them all and wait for a keyframe."""
        if self.readyState != "live":
            return
        if self._waiting_for_keyframe:
            if not packet.keyframe:
                # Ask again (debounced) while frames go by: a keyframe asked for once can be lost (the
                # frame that carried the request failed, or was made while the stream was a scene's
                # seat), and the encoder's own keyframes are 100 s apart.
                if self._reading:
                    self._broadcast.request_keyframe()
                return
            self._waiting_for_keyframe = False
        if packet.keyframe:  # a keyframe makes everything queued before it useless
            while not self._queue.empty():
                self._queue.get_nowait()
        elif self._queue.qsize() >= MAX_QUEUED_PACKETS:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._waiting_for_keyframe = True
            if self._reading:  # a connection not yet up would only cause a keyframe storm
                self._broadcast.request_keyframe()
            return
        self._queue.put_nowait(packet)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if not self._reading:
            self._reading = True
            if self._waiting_for_keyframe:
                self._broadcast.request_keyframe(force=True)
        item = await self._queue.get()
        if item is None:
            raise MediaStreamError
        packet = av.Packet(item.data)
        packet.pts = item.pts
        packet.time_base = VIDEO_CLOCK
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            self._queue.put_nowait(None)
        super().stop()
        self._broadcast.unsubscribe(self)
