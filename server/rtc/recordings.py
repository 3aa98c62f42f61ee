"""The server's recordings: start one of a participant's composite or of a room's scene, stop it, and
stop them all when the server stops. Each is written by a ``Recorder``; the store keeps the files."""

from __future__ import annotations

import asyncio
import logging
import shutil

from ..storage.recording_store import RecordingInfo, RecordingStore
from .conference import Conference
from .recorder import Recorder

logger = logging.getLogger(__name__)

MIN_FREE_BYTES = 1 << 30
"""A recording is not started with less than this free on the data directory's disk (507)."""
MAX_ACTIVE = 8
"""Recordings at once (each writes a few hundred kB/s and encodes Opus on a thread)."""


class RecordingError(Exception):
    """A request the recordings cannot serve: ``status`` and ``code`` for the API."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class Recordings:
    """Active recorders and the store of finished ones."""

    def __init__(self, store: RecordingStore, conference: Conference, min_free_bytes: int = MIN_FREE_BYTES) -> None:
        self.store = store
        self.conference = conference
        self.min_free_bytes = min_free_bytes
        self._active: dict[str, Recorder] = {}

    async def start(self, room: str, participant: str | None) -> RecordingInfo:
        """Record ``participant`` (an id, or the earliest joined of that name) of ``room``, or with None
        the room's shared scene."""
        if participant is None:
            scene = self.conference.scene_of(room)
            if scene is None:
                raise RecordingError(409, "not_scene_mode", f"room {room} has no shared scene to record")
            source, name, broadcast, audio = "scene", "scene", scene.broadcast, scene.audio
        else:
            member = self.conference.find(room, participant)
            if member is None:
                raise RecordingError(404, "unknown_participant", f"no participant {participant!r} in room {room}")
            source, name, broadcast, audio = member.id, member.name, member.broadcast, member.audio
        if source in self.sources(room):
            raise RecordingError(409, "already_recording", f"{name} in room {room} is being recorded already")
        if len(self._active) >= MAX_ACTIVE:
            raise RecordingError(503, "too_many_recordings", f"at most {MAX_ACTIVE} recordings at once")
        free = (await asyncio.to_thread(shutil.disk_usage, self.store.folder)).free
        if free < self.min_free_bytes:
            raise RecordingError(507, "insufficient_storage",
                                 f"only {free >> 20} MB free where recordings are kept; {self.min_free_bytes >> 20} MB needed")
        info = await asyncio.to_thread(self.store.create, room, source, name)
        recorder = Recorder(info, self.store.media_path(info.id), broadcast, audio, self._finished)
        self._active[info.id] = recorder
        logger.info("recording %s: %s in room %s", info.id, name, room)
        await self._tell_room(room)
        return info

    def sources(self, room: str) -> list[str]:
        """What of ``room`` is being recorded: participant ids and/or "scene"."""
        return sorted({r.info.source for r in self._active.values() if r.info.room == room})

    def describe(self, info: RecordingInfo) -> dict:
        """A recording's description, with the bytes written so far while it records."""
        description = info.describe()
        if info.id in self._active:
            description["bytes"] = self.store.media_size(info.id)
        return description

    @property
    def active_count(self) -> int:
        """How many recordings are being written."""
        return len(self._active)

    def is_active(self, recording_id: str) -> bool:
        """Whether the recording is still being written."""
        return recording_id in self._active

    async def stop(self, recording_id: str, reason: str = "stopped") -> RecordingInfo:
        """Stop a recording and wait for its file to close."""
        recorder = self._active.get(recording_id)
        if recorder is None:
            if self.store.get(recording_id) is None:
                raise RecordingError(404, "unknown_recording", f"no recording {recording_id!r}")
            raise RecordingError(409, "not_recording", f"recording {recording_id} has already stopped")
        await recorder.stop(reason)
        return recorder.info

    async def delete(self, recording_id: str) -> None:
        """Stop a recording if it still runs, then remove its file and description."""
        if recording_id in self._active:
            await self.stop(recording_id)
        if not await asyncio.to_thread(self.store.delete, recording_id):
            raise RecordingError(404, "unknown_recording", f"no recording {recording_id!r}")

    async def close(self) -> None:
        """Stop every recording (the server is stopping)."""
        await asyncio.gather(*(recorder.stop("server_stopped") for recorder in list(self._active.values())),
                             return_exceptions=True)

    async def _finished(self, recorder: Recorder) -> None:
        info = recorder.info
        info.bytes = await asyncio.to_thread(self.store.media_size, info.id)
        self._active.pop(info.id, None)
        if self.store.get(info.id) is not None:  # not deleted meanwhile
            await asyncio.to_thread(self.store.save, info)
        await self._tell_room(info.room)
        logger.info("recording %s %s (%s): %.1f s, %d video and %d audio frames, %d dropped", info.id, info.state,
                    info.reason, info.seconds, info.video_frames, info.audio_frames, info.dropped)

    async def _tell_room(self, room: str) -> None:
        # Everyone in the room knows what of it is being recorded (their page shows it).
        await self.conference.tell_room(room, {"type": "recording", "sources": self.sources(room)})
