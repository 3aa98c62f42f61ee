"""This node's side of the cluster's room placement (``room_placement``): a room is claimed before its
first member joins here, a client asking for a room another node hosts is sent there, and the members
of a room that goes to another node (handed over when this node stops, or taken while it was cut off
from Redis) are sent after it. Without a cluster every room is here and none of this does anything.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from .participant import Participant
from .room_placement import PlacementUnavailable, RoomPlacement, ServerFull, at_capacity
from .room_settings_changes import RoomSettingsChanges
from .signaling_error import SignalingError

logger = logging.getLogger(__name__)


class RoomElsewhere(SignalingError):
    """The room lives on another node of the cluster: the client should ask ``url`` instead."""

    def __init__(self, room: str, url: str) -> None:
        super().__init__("room_elsewhere", f"room {room} is hosted by the node at {url}")
        self.url = url


class RoomHosting:
    """Which rooms this node hosts, as far as the other nodes are concerned."""

    def __init__(self, placement: RoomPlacement, room_settings: RoomSettingsChanges,
                 members: Callable[[str], list[Participant]], leave: Callable[[Participant], Awaitable[None]],
                 hosted: Callable[[], dict[str, int]]) -> None:
        self.placement = placement
        self._room_settings, self._members, self._leave, self._hosted = room_settings, members, leave, hosted
        self.joins_redirected = 0  # joins sent to the node hosting their room
        self.rooms_moved = 0  # rooms whose members were sent to another node (handed over, or taken)
        self.joins_refused_full = 0  # joins refused because this node (in a cluster, every node) was full

    async def admit(self, room: str) -> None:
        """Before someone joins ``room`` here: ``RoomElsewhere`` if another node hosts it; else, for a
        room with nobody here yet, claim it and read its settings (another node may have set them).
        A node at its participant limit (``placement.capacity``) or draining places a room nobody
        holds on a node with room to spare (``RoomElsewhere`` to it; ``ServerFull`` if there is none),
        and a full node refuses a join to its own room too (``ServerFull``)."""
        try:
            if not self._members(room):
                elsewhere = await self.placement.place(room, here=not (self._full() or self.placement.draining))
                if elsewhere is not None:
                    self.joins_redirected += 1
                    raise RoomElsewhere(room, elsewhere)
                await self._room_settings.refresh(room)
            if self._full():  # checked again: others may have joined meanwhile
                raise ServerFull(f"this server is full (at most {self.placement.capacity} participants); "
                                 "try again later")
        except ServerFull:
            self.joins_refused_full += 1
            raise

    def _full(self) -> bool:
        return at_capacity(sum(self._hosted().values()), self.placement.capacity)

    async def host_elsewhere(self, room: str) -> str | None:
        """The URL of the node hosting ``room`` when that is not this one (None: here, or nowhere)."""
        if self._members(room):
            return None
        return await self.placement.locate(room)

    async def emptied(self, room: str) -> None:
        """The last member left ``room``: give it up, so the next join anywhere may place it."""
        try:
            await self.placement.release(room)
        except PlacementUnavailable as error:  # the lease lapses by itself
            logger.warning("room %s emptied but could not be released: %s", room, error)

    async def moved(self, room: str, url: str) -> None:
        """Another node holds ``room`` now: its members here are told to join it there (``redirect``)
        and leave, so the room meets again in one place."""
        self.rooms_moved += 1
        for participant in self._members(room):
            await participant.send_event({"type": "redirect", "room": room, "url": url})
            await self._leave(participant)

    async def hand_over(self) -> None:
        """This node is stopping: give each room it hosts to another node and send the members there, so
        calls move instead of breaking (nothing happens without another node)."""
        for room in list(self._hosted()):
            try:
                successor = await self.placement.hand_over(room)
            except PlacementUnavailable as error:
                logger.warning("room %s could not be handed over: %s", room, error)
                continue
            if successor is not None:
                logger.info("room %s handed over to %s", room, successor)
                await self.moved(room, successor)
