"""One track carrying several participants' voices mixed: the sound of a shared scene for its audience.

A scene's WHEP players (a broadcast's viewers) get one video stream of everybody; they must hear
everybody too, and a player takes one audio track. ``AudioMixTrack`` subscribes to each voice's
``AudioFanout``, converts what arrives to 48 kHz stereo, keeps a short buffer per voice, and every
20 ms, on its own clock, sums what each voice has (saturating at full scale). A voice plays once
``PRIMED_MS`` of it is buffered, which absorbs the network's jitter; one that runs dry is left out
until it is primed again, and one that has piled up more than ``MAX_BUFFERED_MS`` (its sender's
clock runs fast, or the mix paused) loses its oldest audio: latency first. Muted voices arrive as
silence from their fanouts already.

The participants themselves do not hear this mix (they would hear themselves); their pages keep
one audio connection per other participant.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from .audio_fanout import AudioCopyTrack, AudioFanout

logger = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960
"""Samples per channel in one 20 ms mixed frame."""
PRIMED_MS = 60
MAX_BUFFERED_MS = 200
_PRIMED_SAMPLES = PRIMED_MS * SAMPLE_RATE // 1000
_MAX_BUFFERED_SAMPLES = MAX_BUFFERED_MS * SAMPLE_RATE // 1000
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class _Voice:
    """One participant's voice feeding the mix: its subscriber track, read into a sample buffer."""

    def __init__(self, track: AudioCopyTrack) -> None:
        self.track = track
        self.buffer = np.zeros((0, 2), np.int16)
        self.playing = False
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=SAMPLE_RATE)
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                for converted in self._resampler.resample(frame):
                    samples = converted.to_ndarray().reshape(-1, 2)  # packed s16 stereo: L R L R ...
                    self.buffer = np.concatenate([self.buffer, samples])
                if len(self.buffer) > _MAX_BUFFERED_SAMPLES:
                    self.buffer = self.buffer[-_PRIMED_SAMPLES:]
        except MediaStreamError:
            pass
        except Exception:  # an undecodable frame: this voice drops out, the mix goes on
            logger.exception("a voice left the mix")

    def take(self, count: int) -> np.ndarray | None:
        """``count`` samples (per channel) if the voice plays, else None."""
        if not self.playing and len(self.buffer) >= _PRIMED_SAMPLES:
            self.playing = True
        if not self.playing:
            return None
        if len(self.buffer) < count:  # ran dry: what is left, then wait to be primed again
            self.playing = False
            chunk = np.zeros((count, 2), np.int16)
            chunk[:len(self.buffer)] = self.buffer
            self.buffer = self.buffer[:0]
            return chunk
        chunk, self.buffer = self.buffer[:count], self.buffer[count:]
        return chunk

    def stop(self) -> None:
        self._task.cancel()
        self.track.stop()


class AudioMixTrack(MediaStreamTrack):
    """The voices of ``set_voices`` mixed, 20 ms stereo frames at 48 kHz, silence when nobody speaks."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._voices: dict[str, _Voice] = {}
        self._start: float | None = None
        self._frames = 0

    def set_voices(self, fanouts: dict[str, AudioFanout]) -> None:
        """Mix exactly these voices (key: the participant's id) from now on."""
        for key in [k for k in self._voices if k not in fanouts]:
            self._voices.pop(key).stop()
        for key, fanout in fanouts.items():
            if key not in self._voices:
                self._voices[key] = _Voice(fanout.subscribe())

    @property
    def voices(self) -> list[str]:
        """The ids of the voices in the mix."""
        return list(self._voices)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._frames * FRAME_SAMPLES / SAMPLE_RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        mixed = np.zeros((FRAME_SAMPLES, 2), np.int32)
        for voice in self._voices.values():
            chunk = voice.take(FRAME_SAMPLES)
            if chunk is not None:
                mixed += chunk
        frame = av.AudioFrame.from_ndarray(np.clip(mixed, -32768, 32767).astype(np.int16).reshape(1, -1),
                                           format="s16", layout="stereo")
        frame.sample_rate, frame.time_base = SAMPLE_RATE, _TIME_BASE
        frame.pts = self._frames * FRAME_SAMPLES
        self._frames += 1
        return frame

    def stop(self) -> None:
        for voice in self._voices.values():
            voice.stop()
        self._voices.clear()
        super().stop()
