"""Where recordings live: ``DATA_DIR/recordings/ID.webm`` and, beside each, ``ID.json`` describing it.

The description is rewritten when a recording changes state, so the list survives a restart; a
recording found still marked ``recording`` at start-up was cut short by the restart (its WebM, being
written as a stream, plays up to where it stopped) and is marked ``interrupted``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

RECORDINGS_DIR = "recordings"


@dataclass
class RecordingInfo:
    """One recording: what it records, and how far it got."""

    id: str
    room: str
    source: str
    """``"scene"`` (the room's shared scene) or the recorded participant's id."""
    source_name: str
    """The participant's name, or ``"scene"``."""
    started_at: float
    """Unix seconds."""
    state: str = "recording"
    stopped_at: float | None = None
    reason: str | None = None
    """Why it stopped: ``stopped`` (asked to), ``source_ended`` (the participant left, the scene
    closed), ``server_stopped``, or what failed."""
    bytes: int = 0
    video_frames: int = 0
    audio_frames: int = 0
    dropped: int = 0
    """Frames lost because the writer fell behind."""
    seconds: float = 0.0
    """Media time written."""

    def describe(self) -> dict:
        """The JSON the API answers."""
        return asdict(self)


class RecordingStore:
    """Recording files and their descriptions in one folder. Blocking file I/O: call from a thread
    where it matters (descriptions are small)."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / RECORDINGS_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self._infos: dict[str, RecordingInfo] = {}
        for path in sorted(self.folder.glob("*.json")):
            try:
                info = RecordingInfo(**json.loads(path.read_text()))
            except (ValueError, TypeError) as error:
                logger.warning("skipping unreadable recording description %s: %s", path, error)
                continue
            if info.state == "recording":
                info.state, info.reason = "interrupted", "server_restarted"
                info.bytes = self.media_size(info.id)
                self.save(info)
            self._infos[info.id] = info

    def create(self, room: str, source: str, source_name: str) -> RecordingInfo:
        """A new recording's description, saved."""
        info = RecordingInfo(id=secrets.token_urlsafe(9), room=room, source=source, source_name=source_name,
                             started_at=time.time())
        self._infos[info.id] = info
        self.save(info)
        return info

    def save(self, info: RecordingInfo) -> None:
        """Write a description (atomically: a crash leaves the old one or the new one)."""
        target = self.folder / f"{info.id}.json"
        temporary = target.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(info.describe()))
        os.replace(temporary, target)

    def get(self, recording_id: str) -> RecordingInfo | None:
        """A recording's description, or None."""
        return self._infos.get(recording_id)

    def list(self) -> list[RecordingInfo]:
        """Every recording, oldest first."""
        return sorted(self._infos.values(), key=lambda info: info.started_at)

    def media_path(self, recording_id: str) -> Path:
        """The recording's WebM file (it may not exist yet, or any more)."""
        return self.folder / f"{recording_id}.webm"

    def delete(self, recording_id: str) -> bool:
        """Remove a recording's file and description; False if there was none."""
        if self._infos.pop(recording_id, None) is None:
            return False
        for path in (self.media_path(recording_id), self.folder / f"{recording_id}.json"):
            path.unlink(missing_ok=True)
        return True

    def media_size(self, recording_id: str) -> int:
        """Bytes of the recording's WebM file so far (0 without one)."""
        path = self.media_path(recording_id)
        return path.stat().st_size if path.exists() else 0
