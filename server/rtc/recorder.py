"""Recording a participant's composite or a room's shared scene, with its sound, to a WebM file.

The video is not encoded again: the recorder is one more viewer of the stream's ``PacketBroadcast``
and writes the VP8 frames every viewer gets as they are. The sound (the participant's voice, or the
scene's mix) is encoded to Opus. Both are stamped with their arrival time, so they stay in step and
a stalled camera shows as a held picture, not a jump. The file starts at the first keyframe (which
subscribing asks for).

Writing runs on a thread of its own (muxing, Opus, disk), fed by a bounded queue: a writer that falls
behind drops frames and counts them instead of holding up the event loop or growing without bound.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from ..storage.recording_store import RecordingInfo
from .audio_fanout import AudioFanout
from .composite_track import PacketBroadcast

logger = logging.getLogger(__name__)

QUEUE_LIMIT = 600
"""Items (video frames and 20 ms audio frames) waiting for the writer: about 6 s of both."""
AUDIO_RATE = 48_000
MILLISECONDS = fractions.Fraction(1, 1000)
_AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)
_REANCHOR_SECONDS = 0.2
"""Audio that arrives this much later than its samples account for starts again at its arrival."""


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) from a VP8 keyframe's header (RFC 6386, 9.1), None for an inter frame."""
    if len(frame) < 10 or frame[0] & 1 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    return int.from_bytes(frame[6:8], "little") & 0x3FFF, int.from_bytes(frame[8:10], "little") & 0x3FFF


class Recorder:
    """Writes one broadcast (and a voice or mix) to ``path`` until ``stop`` or the source ends;
    ``info`` is kept up to date and ``on_finished`` is awaited once the file is closed."""

    def __init__(self, info: RecordingInfo, path: Path, broadcast: PacketBroadcast, audio: AudioFanout | None,
                 on_finished: Callable[["Recorder"], Awaitable[None]]) -> None:
        self.info = info
        self.path = path
        self._video = broadcast.subscribe()
        self._audio = audio.subscribe() if audio is not None else None
        self._on_finished = on_finished
        self._queue: queue.Queue = queue.Queue(QUEUE_LIMIT)
        self._start = time.monotonic()
        self._readers = [asyncio.ensure_future(self._read(self._video, "video"))]
        if self._audio is not None:
            self._readers.append(asyncio.ensure_future(self._read(self._audio, "audio")))
        self._stop_reason: str | None = None
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._write, name=f"recorder-{info.id}", daemon=True)
        self._thread.start()
        self._finished = asyncio.ensure_future(self._finish_when_read())

    async def stop(self, reason: str = "stopped") -> None:
        """Stop recording and wait until the file is closed."""
        if self._stop_reason is None:
            self._stop_reason = reason
        self._stop_tracks()
        await asyncio.shield(self._finished)

    def _stop_tracks(self) -> None:
        self._video.stop()
        if self._audio is not None:
            self._audio.stop()

    async def _read(self, track: MediaStreamTrack, kind: str) -> None:
        try:
            while True:
                item = await track.recv()
                try:
                    self._queue.put_nowait((kind, item, time.monotonic() - self._start))
                except queue.Full:
                    self.info.dropped += 1
        except MediaStreamError:
            pass

    async def _finish_when_read(self) -> None:
        # The video ending (stop, or the participant / scene gone) ends the recording.
        await self._readers[0]
        if self._audio is not None:
            self._audio.stop()
        await asyncio.gather(*self._readers, return_exceptions=True)
        await asyncio.to_thread(self._queue.put, None)
        await asyncio.to_thread(self._thread.join)
        info = self.info
        info.stopped_at = time.time()
        if info.state == "recording":
            info.state, info.reason = "stopped", self._stop_reason or "source_ended"
        await self._on_finished(self)

    def _write(self) -> None:
        writer: _WebmWriter | None = None
        try:
            while (item := self._queue.get()) is not None:
                kind, payload, seconds = item
                if kind == "video":
                    data = bytes(payload)
                    if writer is None:
                        size = vp8_size(data)
                        if size is None:
                            continue  # before the first keyframe nothing can be shown
                        writer = _WebmWriter(self.path, size, with_audio=self._audio is not None, origin=seconds)
                    writer.video(data, seconds)
                    self.info.video_frames += 1
                elif writer is not None:
                    writer.audio(payload, seconds)
                    self.info.audio_frames += 1
                if writer is not None:
                    self.info.seconds = max(self.info.seconds, seconds - writer.origin)
        except Exception as error:  # a full disk, a frame the muxer refuses: the recording ends, nothing else
            logger.exception("recording %s failed", self.info.id)
            self.info.state, self.info.reason = "failed", f"{type(error).__name__}: {error}"
            self._loop.call_soon_threadsafe(self._stop_tracks)
            while self._queue.get() is not None:  # what the readers still put, until the end
                pass
        finally:
            if writer is not None:
                try:
                    writer.close()
                except Exception as error:  # the last of the file could not be written
                    logger.exception("closing recording %s", self.info.id)
                    if self.info.state == "recording":
                        self.info.state, self.info.reason = "failed", f"{type(error).__name__}: {error}"


class _WebmWriter:
    """A WebM file of pre-encoded VP8 and Opus-encoded sound, timed in milliseconds from ``origin``."""

    def __init__(self, path: Path, size: tuple[int, int], with_audio: bool, origin: float) -> None:
        self.origin = origin
        # Written through a Python file, so a failing write (a full disk) raises at once; libavformat
        # writing a path itself only reports it when the file is closed.
        self._file = open(path, "wb")
        self._container = av.open(self._file, "w", format="webm")
        self._video = self._container.add_stream("vp8", rate=30)
        self._video.width, self._video.height = size
        self._video.pix_fmt = "yuv420p"
        self._video.time_base = MILLISECONDS
        self._last_video_ms = -1
        self._audio = None
        self._resampler = None
        self._next_sample: int | None = None
        if with_audio:
            self._audio = self._container.add_stream("libopus", rate=AUDIO_RATE)
            self._audio.layout = "stereo"
            self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE)

    def video(self, data: bytes, seconds: float) -> None:
        milliseconds = max(round((seconds - self.origin) * 1000), self._last_video_ms + 1)
        self._last_video_ms = milliseconds
        packet = av.Packet(data)
        packet.pts = packet.dts = milliseconds
        packet.time_base = MILLISECONDS
        packet.stream = self._video
        packet.is_keyframe = vp8_size(data) is not None
        self._container.mux(packet)

    def audio(self, frame: av.AudioFrame, seconds: float) -> None:
        assert self._audio is not None and self._resampler is not None
        arrival = round((seconds - self.origin) * AUDIO_RATE)
        slack = _REANCHOR_SECONDS * AUDIO_RATE
        if arrival < 0 or (self._next_sample is not None and self._next_sample - arrival > slack):
            return  # before the picture starts, or the sender's clock runs ahead of ours: dropped
        for converted in self._resampler.resample(frame):
            late = self._next_sample is None or arrival - self._next_sample > slack
            start = arrival if late else self._next_sample
            converted.pts, converted.time_base = start, _AUDIO_TIME_BASE
            self._next_sample = start + converted.samples
            for packet in self._audio.encode(converted):
                self._container.mux(packet)

    def close(self) -> None:
        try:
            if self._audio is not None:
                for packet in self._audio.encode(None):
                    self._container.mux(packet)
            self._container.close()
        finally:
            self._file.close()
