"""Per-room settings an admin assigns (background, statistic, probing, shared-scene mode and layout, what
participants may change):
kept in SQLite (a cluster's in Redis: ``redis_stores``), read from memory."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from ..imaging.scene_layout import SeatSpec
from .database import Database

MODES = ("individual", "scene")


@dataclass(frozen=True)
class RoomSettings:
    """What a room's participants get unless they choose otherwise; None means the server default."""

    background_id: str | None = None
    statistic: str | None = None
    latency_probe: bool = False
    """Every participant of the room is a latency probe (shared/FRAMECODE.md)."""
    mode: str = "individual"
    """``individual``: each participant's own composite; ``scene``: everyone in one shared scene."""
    layout: str = "grid"
    """Scene layout: cohost, row, grid or seats."""
    seats: tuple[SeatSpec, ...] | None = None
    """Seat boxes of the ``seats`` layout (fractions of the scene background)."""
    scene_statistic: str = "min"
    """How the seats' losses combine into the scene's target: min quality (the weakest seat), median, mean."""
    participants_set_mode: bool = True
    """Whether participants may switch the room's mode and layout from the client."""
    participants_set_background: bool = True
    """Whether participants may pick their own background (one of everyone's, or their own picture);
    otherwise everyone in the room gets the room's."""

    def participant_rights(self) -> dict[str, bool]:
        """What the room lets its participants change, as their pages are told."""
        return {"participants_set_mode": self.participants_set_mode,
                "participants_set_background": self.participants_set_background}


class RoomSettingsStore:
    """Write-through store of room settings; reads never touch the disk."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._settings = {row["room"]: _from_row(row) for row in database.query("SELECT * FROM room_settings")}

    def get(self, room: str) -> RoomSettings:
        """The room's settings (all None when never set)."""
        return self._settings.get(room, RoomSettings())

    def put(self, room: str, settings: RoomSettings) -> None:
        """Replace the room's settings."""
        seats = None if settings.seats is None else json.dumps(_seat_boxes(settings.seats))
        self._db.execute("INSERT INTO room_settings (room, background_id, statistic, latency_probe, mode, layout, "
                         "seats, scene_statistic, participants_set_mode, participants_set_background) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                         "ON CONFLICT(room) DO UPDATE SET "
                         "background_id = excluded.background_id, statistic = excluded.statistic, "
                         "latency_probe = excluded.latency_probe, mode = excluded.mode, layout = excluded.layout, "
                         "seats = excluded.seats, scene_statistic = excluded.scene_statistic, "
                         "participants_set_mode = excluded.participants_set_mode, "
                         "participants_set_background = excluded.participants_set_background",
                         (room, settings.background_id, settings.statistic, int(settings.latency_probe), settings.mode,
                          settings.layout, seats, settings.scene_statistic, int(settings.participants_set_mode),
                          int(settings.participants_set_background)))
        self._settings[room] = settings

    def forget_background(self, background_id: str) -> list[str]:
        """Rooms that used ``background_id`` go back to the default; their names."""
        rooms = [room for room, s in self._settings.items() if s.background_id == background_id]
        for room in rooms:
            self.put(room, replace(self._settings[room], background_id=None))
        return rooms

    def refresh(self, room: str) -> None:
        """Read the room's settings again where another node may have changed them (here no other node
        writes: nothing to do)."""


def settings_as_json(settings: RoomSettings) -> str:
    """The settings as one JSON object (the field names of ``RoomSettings``)."""
    fields = {**vars(settings), "seats": None if settings.seats is None else _seat_boxes(settings.seats)}
    return json.dumps(fields)


def settings_from_json(text: str) -> RoomSettings:
    """``settings_as_json``'s inverse; fields it does not know are ignored, missing ones take defaults."""
    fields = {key: value for key, value in json.loads(text).items() if key in RoomSettings.__dataclass_fields__}
    if fields.get("seats") is not None:
        fields["seats"] = _seat_specs(fields["seats"])
    return RoomSettings(**fields)


def _from_row(row) -> RoomSettings:
    seats = None if row["seats"] is None else _seat_specs(json.loads(row["seats"]))
    return RoomSettings(row["background_id"], row["statistic"], bool(row["latency_probe"]), row["mode"],
                        row["layout"], seats, row["scene_statistic"], bool(row["participants_set_mode"]),
                        bool(row["participants_set_background"]))


def _seat_boxes(seats: tuple[SeatSpec, ...]) -> list[dict]:
    return [vars(seat) for seat in seats]


def _seat_specs(boxes: list[dict]) -> tuple[SeatSpec, ...]:
    return tuple(SeatSpec(**box) for box in boxes)
