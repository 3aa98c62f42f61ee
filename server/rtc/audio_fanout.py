"""Relay a participant's microphone to the others: each subscriber gets its own copy of every frame.

aiortc encodes each sender's frames in a thread; handing one frame object to several senders lets
those threads touch it concurrently (FACTS.md), so every subscriber track gets a copy. A subscriber
that falls behind loses its oldest audio instead of accumulating delay. While the speaker is muted
every subscriber gets silence in place of each frame (the timing stays; nothing said gets out even if
their client keeps sending). The fanout also follows who is speaking (``voice_activity``) and says so
through ``on_speaking``.

A fanout exists before its microphone does: others subscribe as soon as a participant joins, before
the participant's publish connection brings the track (``attach``), and hear it from then on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import numpy as np

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from .voice_activity import VoiceActivity

logger = logging.getLogger(__name__)

MAX_QUEUED_FRAMES = 5


class AudioFanout:
    """Reads one remote audio track (given now or ``attach``-ed later) and offers copies to subscriber
    tracks."""

    def __init__(self, source: MediaStreamTrack | None = None, muted: Callable[[], bool] = lambda: False,
                 on_speaking: Callable[[bool], None] | None = None) -> None:
        self._muted = muted
        self.on_speaking = on_speaking
        """Called with True / False when the voice starts / stops speaking (``voice_activity``)."""
        self._activity = VoiceActivity()
        self._tracks: set[AudioCopyTrack] = set()
        self._task: asyncio.Task | None = None
        self._closed = False
        if source is not None:
            self.attach(source)

    def attach(self, source: MediaStreamTrack) -> None:
        """Start relaying ``source`` to every subscriber, present and future (once; later calls are
        ignored, as is a call after ``close``)."""
        if self._task is None and not self._closed:
            self._task = asyncio.ensure_future(self._run(source))

    def subscribe(self) -> "AudioCopyTrack":
        """A new subscriber track."""
        track = AudioCopyTrack(self)
        self._tracks.add(track)
        return track

    def unsubscribe(self, track: "AudioCopyTrack") -> None:
        """Forget a subscriber track."""
        self._tracks.discard(track)

    async def close(self) -> None:
        """Stop reading and end every subscriber track."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        for track in list(self._tracks):
            track.stop()

    async def _run(self, source: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await source.recv()
                samples = frame.to_ndarray()
                if self._muted():
                    samples = np.zeros_like(samples)
                if self.on_speaking is not None:  # a scene's mix has nobody to tell
                    self._follow_activity(samples)
                for track in list(self._tracks):
                    copy = av.AudioFrame.from_ndarray(samples.copy(), format=frame.format.name, layout=frame.layout.name)
                    copy.sample_rate, copy.pts, copy.time_base = frame.sample_rate, frame.pts, frame.time_base
                    track.offer(copy)
        except MediaStreamError:
            pass
        finally:
            if self._activity.speaking:
                self._activity.speaking = False
                self._tell_speaking(False)
            for track in list(self._tracks):
                track.stop()

    def _follow_activity(self, samples: np.ndarray) -> None:
        changed = self._activity.update(samples, time.monotonic())
        if changed is not None:
            self._tell_speaking(changed)

    def _tell_speaking(self, speaking: bool) -> None:
        if self.on_speaking is not None:
            try:
                self.on_speaking(speaking)
            except Exception:  # a listener's failure must not stop the voice
                logger.exception("speaking callback failed")


class AudioCopyTrack(MediaStreamTrack):
    """One subscriber's copy of a microphone."""

    kind = "audio"

    def __init__(self, fanout: AudioFanout) -> None:
        super().__init__()
        self._fanout = fanout
        self._queue: asyncio.Queue[av.AudioFrame | None] = asyncio.Queue()

    def offer(self, frame: av.AudioFrame) -> None:
        """Queue a frame, dropping the oldest past a few."""
        if self.readyState != "live":
            return
        while self._queue.qsize() >= MAX_QUEUED_FRAMES:
            self._queue.get_nowait()
        self._queue.put_nowait(frame)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        if self.readyState == "live":
            self._queue.put_nowait(None)
        super().stop()
        self._fanout.unsubscribe(self)
