"""Which node hosts each room: the interface (``RoomPlacement``), its single-node default
(``LocalPlacement``: every room is here) and what nodes know of each other. The cluster's placement
through Redis is ``redis_placement.RedisPlacement``.

A room lives on one node (LiveKit's rule): its members' media, scene and recordings are there. The
first node asked for a room claims it; a node asked for a room another node holds sends the client
there. A node may take a limited number of participants (its ``capacity``, reported with it), and may
be draining (taking no new rooms, so that it can be stopped once its calls end). A full or draining
node asked for a room nobody holds places it on the least busy live node with room to spare instead,
and sends the client there; with no such node the join is refused (``server_full``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Protocol

from .signaling_error import SignalingError


class ServerFull(SignalingError):
    """No node can take another participant (code ``server_full``; the HTTP API answers it with 503)."""

    def __init__(self, detail: str) -> None:
        super().__init__("server_full", detail)


class PlacementUnavailable(SignalingError):
    """The room directory (Redis) cannot be reached: no room can be placed until it is back (code
    ``placement_unavailable``; the HTTP API answers it with 503)."""

    def __init__(self, detail: str) -> None:
        super().__init__("placement_unavailable", detail)


@dataclass(frozen=True)
class NodeInfo:
    """One node of the cluster as it last reported itself."""

    id: str
    url: str
    rooms: list[str]
    participants: int
    started_at: float
    seen_at: float
    capacity: int = 0
    """Participants the node takes in all its rooms together (0: no limit)."""
    draining: bool = False
    """The node takes no new rooms (its rooms go on, and take new members)."""

    @property
    def has_room(self) -> bool:
        """Whether the node takes a new room: not draining, and not full."""
        return not self.draining and not at_capacity(self.participants, self.capacity)

    @staticmethod
    def from_report(text: str) -> "NodeInfo":
        """A node's report as stored in Redis (fields a newer node adds are ignored, so nodes of two
        releases can share a cluster during a rolling upgrade)."""
        known = {field.name for field in fields(NodeInfo)}
        return NodeInfo(**{key: value for key, value in json.loads(text).items() if key in known})


def at_capacity(participants: int, capacity: int) -> bool:
    """Whether a node with ``participants`` takes no one more under its ``capacity`` (0: no limit)."""
    return 0 < capacity <= participants


def least_busy(nodes: list[NodeInfo]) -> NodeInfo:
    """The node to give a room to: the fewest participants, then the fewest rooms (then by id)."""
    return min(nodes, key=lambda node: (node.participants, len(node.rooms), node.id))


RoomLost = Callable[[str, str], Awaitable[None]]
"""Called with (room, URL of the node now holding it) when this node finds another node took a room it
hosts (it was cut off from Redis long enough for its report to lapse)."""

NodeDescription = Callable[[], dict]
"""What an admin sees of a node, JSON-ready: ``{"rooms": [...], "recordings": [...]}`` (its live rooms
as ``room_figures.admin_view`` gives them, each with its ``room`` name; its recordings, each with its
``id``)."""


@dataclass(frozen=True)
class NodeView:
    """What an admin sees of a node: its rooms and recordings, as it last published them (another
    node's are up to a heartbeat old)."""

    node_id: str
    url: str
    seen_at: float
    rooms: list[dict]
    recordings: list[dict]


class RoomPlacement(Protocol):
    """Where rooms live. ``place``/``locate`` return None for this node, else the base URL of the node
    that hosts the room. ``place(room, here=False)``: this node is full or draining, so a room nobody
    holds goes to another node (``ServerFull`` if none has room); None then means this node holds it
    already. ``capacity``: the participants this node takes in all (0: no limit); ``draining``: it
    takes no new rooms (set by the operator); both reported to the others."""

    node_id: str
    node_url: str
    capacity: int
    draining: bool

    async def start(self, hosted: Callable[[], dict[str, int]], on_lost: RoomLost | None = None,
                    describe: NodeDescription | None = None) -> None: ...
    async def close(self) -> None: ...
    async def place(self, room: str, here: bool = True) -> str | None: ...
    async def locate(self, room: str) -> str | None: ...
    async def release(self, room: str) -> None: ...
    async def hand_over(self, room: str) -> str | None: ...
    async def set_draining(self, draining: bool) -> None: ...
    async def nodes(self) -> list[NodeInfo]: ...
    async def other_views(self) -> list[NodeView]: ...
    @property
    def healthy(self) -> bool: ...


class LocalPlacement:
    """One node: every room is here."""

    node_id = "local"
    node_url = ""  # the node's address is wherever its clients reached it

    def __init__(self, capacity: int = 0) -> None:
        self.capacity = capacity
        self.draining = False
        self._hosted: Callable[[], dict[str, int]] = dict

    async def start(self, hosted: Callable[[], dict[str, int]], on_lost: RoomLost | None = None,
                    describe: NodeDescription | None = None) -> None:
        """Remember what this node hosts, for ``nodes`` (no other node can take a room)."""
        self._hosted = hosted

    async def close(self) -> None:
        """Nothing to release."""

    async def place(self, room: str, here: bool = True) -> str | None:
        if not here and self.draining:
            raise ServerFull("this server is draining (it takes no new rooms); try again later")
        return None

    async def locate(self, room: str) -> str | None:
        return None

    async def release(self, room: str) -> None:
        """Nothing to release."""

    async def hand_over(self, room: str) -> str | None:
        """No other node to take it."""
        return None

    async def set_draining(self, draining: bool) -> None:
        """Take no new rooms (True), or take them again."""
        self.draining = draining

    async def nodes(self) -> list[NodeInfo]:
        rooms = self._hosted()
        return [NodeInfo(self.node_id, "", sorted(rooms), sum(rooms.values()), 0.0, time.time(), self.capacity,
                         self.draining)]

    async def other_views(self) -> list[NodeView]:
        """No other node."""
        return []

    @property
    def healthy(self) -> bool:
        return True
