"""Per-room settings an admin assigns (background, statistic): kept in SQLite, read from memory."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .database import Database


@dataclass(frozen=True)
class RoomSettings:
    """What a room's participants get unless they choose otherwise; None means the server default."""

    background_id: str | None = None
    statistic: str | None = None
    latency_probe: bool = False
    """Every participant of the room is a latency probe (shared/FRAMECODE.md)."""


class RoomSettingsStore:
    """Write-through store of room settings; reads never touch the disk."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._settings = {row["room"]: RoomSettings(row["background_id"], row["statistic"], bool(row["latency_probe"]))
                          for row in database.query("SELECT * FROM room_settings")}

    def get(self, room: str) -> RoomSettings:
        """The room's settings (all None when never set)."""
        return self._settings.get(room, RoomSettings())

    def put(self, room: str, settings: RoomSettings) -> None:
        """Replace the room's settings."""
        self._db.execute("INSERT INTO room_settings (room, background_id, statistic, latency_probe) "
                         "VALUES (?, ?, ?, ?) ON CONFLICT(room) DO UPDATE SET "
                         "background_id = excluded.background_id, statistic = excluded.statistic, "
                         "latency_probe = excluded.latency_probe",
                         (room, settings.background_id, settings.statistic, int(settings.latency_probe)))
        self._settings[room] = settings

    def forget_background(self, background_id: str) -> list[str]:
        """Rooms that used ``background_id`` go back to the default; their names."""
        rooms = [room for room, s in self._settings.items() if s.background_id == background_id]
        for room in rooms:
            self.put(room, replace(self._settings[room], background_id=None))
        return rooms
