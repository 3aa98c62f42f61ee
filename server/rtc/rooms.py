"""Which rooms exist and who is in them: a small interface with an in-memory implementation.

A room lives on one node, so its members are all here; which node hosts which room, when several
share one Redis, is ``room_placement``'s business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

_ROOM_NAME = re.compile(r"^[\w.-]{1,64}$", re.ASCII)
ROOM_NAME_RULE = "room must be 1-64 letters, digits, '.', '_' or '-'"


def is_room_name(value: object) -> bool:
    """Whether ``value`` is an acceptable room name."""
    return isinstance(value, str) and bool(_ROOM_NAME.match(value))


@dataclass
class RoomState:
    """A room's members (participant ids in join order); its settings live in the room settings store."""

    name: str
    members: list[str] = field(default_factory=list)


class RoomDirectory(Protocol):
    """Where rooms live and who is in them."""

    def join(self, room: str, participant_id: str) -> RoomState: ...
    def leave(self, room: str, participant_id: str) -> None: ...
    def get(self, room: str) -> RoomState | None: ...
    def rooms(self) -> list[RoomState]: ...


class InMemoryRoomDirectory:
    """The single-node directory: rooms exist while someone is in them."""

    def __init__(self) -> None:
        self._rooms: dict[str, RoomState] = {}

    def join(self, room: str, participant_id: str) -> RoomState:
        state = self._rooms.setdefault(room, RoomState(room))
        if participant_id not in state.members:
            state.members.append(participant_id)
        return state

    def leave(self, room: str, participant_id: str) -> None:
        state = self._rooms.get(room)
        if state is None:
            return
        if participant_id in state.members:
            state.members.remove(participant_id)
        if not state.members:
            del self._rooms[room]

    def get(self, room: str) -> RoomState | None:
        return self._rooms.get(room)

    def rooms(self) -> list[RoomState]:
        return list(self._rooms.values())
