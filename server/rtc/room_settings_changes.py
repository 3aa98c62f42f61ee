"""Changes to room settings as the event loop makes them.

A room settings store is written through: an fsync of the embedded SQLite, or a round trip to the
cluster's Redis, which can hang for its whole timeout (2 s, ``redis_stores.connect``) when Redis
stops answering. So every write and re-read runs in a thread, never on the event loop that carries the
calls. They run one at a time: each change reads the settings the previous one wrote, and the store
and the memory it is read from end up agreeing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..storage.room_settings import RoomSettings, RoomSettingsStore


class RoomSettingsChanges:
    """Writes to one room settings store, off the event loop and one at a time (reads stay
    ``store.get``, from memory)."""

    def __init__(self, store: RoomSettingsStore) -> None:
        self.store = store
        self._turn = asyncio.Lock()

    async def change(self, room: str, change: Callable[[RoomSettings], RoomSettings]) -> tuple[RoomSettings, RoomSettings]:
        """Store ``change(current settings)`` as the room's settings; (the settings before, after).
        The current settings are read again from the store first: in a cluster another node may have
        changed them since this one last read them. What ``change`` raises (a refused request)
        propagates and nothing is stored; so does the store's own error (nothing is stored either,
        and the settings read stay)."""
        async with self._turn:
            await asyncio.to_thread(self.store.refresh, room)
            before = self.store.get(room)
            after = change(before)
            await asyncio.to_thread(self.store.put, room, after)
        return before, after

    async def refresh(self, room: str) -> None:
        """Read the room's settings again from the store (another node may have set them)."""
        async with self._turn:
            await asyncio.to_thread(self.store.refresh, room)

    async def forget_background(self, background_id: str) -> list[str]:
        """Rooms that used a deleted background go back to the default; their names."""
        async with self._turn:
            return await asyncio.to_thread(self.store.forget_background, background_id)
