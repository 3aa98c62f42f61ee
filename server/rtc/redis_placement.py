"""The cluster's room placement: several Backdrop nodes share one Redis (``RedisPlacement``).

Each node reports itself every ``HEARTBEAT_SECONDS`` under a key that lapses after
``NODE_TTL_SECONDS``; a room held by a node whose report has lapsed (it died) goes to the next node
asked. Claims are also leases (``ROOM_LEASE_SECONDS``), renewed with the report while the room has
members, so a claim nobody uses lapses by itself. With its report a node publishes what an admin
sees of it (its rooms and newest recordings), for the other nodes' admin API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .room_placement import (NodeDescription, NodeInfo, NodeView, PlacementUnavailable, RoomLost, ServerFull,
                             least_busy)

logger = logging.getLogger(__name__)

KEY_PREFIX = "backdrop:"
HEARTBEAT_SECONDS = 2.0
"""How often a node says it is alive and renews its rooms' leases."""
NODE_TTL_SECONDS = 6.0
"""A node not heard from for this long is gone: its rooms may be claimed by others at once."""
ROOM_LEASE_SECONDS = 15.0
"""A claim not renewed for this long lapses, even if Redis never learnt that its node died."""

# Claim ``KEYS[1]`` (a room) for ARGV[1] (this node) unless a live node (its key still in Redis)
# holds it; returns the holder. A room held by a node whose key has lapsed is taken over.
_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] and redis.call('EXISTS', ARGV[3] .. owner) == 1 then
  return owner
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
"""
# Give ``KEYS[1]`` (a room) from ARGV[1] to ARGV[2] for a lease of ARGV[3] ms, only while ARGV[1] holds it.
_HAND_OVER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
# Renew (ARGV[2] = lease ms) or delete (ARGV[2] = 0) ``KEYS[1]`` only while ARGV[1] holds it.
_RENEW_OR_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) == 0 then return redis.call('DEL', KEYS[1]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
PUBLISHED_RECORDINGS = 200
"""A node publishes its newest recordings, at most this many (the rest are listed by the node itself)."""


@contextmanager
def _reachable() -> Iterator[None]:
    """Redis's errors inside become ``PlacementUnavailable``."""
    try:
        yield
    except RedisError as error:
        raise PlacementUnavailable(f"cannot reach Redis: {error}") from None



class RedisPlacement:
    """The cluster's room directory in Redis: ``backdrop:node:<id>`` (this node's report, expiring
    unless refreshed), ``backdrop:node-view:<id>`` (its rooms and recordings as an admin sees them,
    published with the report and expiring with it) and ``backdrop:room:<name>`` (the id of the node holding the
    room, a lease)."""

    def __init__(self, redis_url: str, node_url: str, node_id: str | None = None, capacity: int = 0,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS, node_ttl_seconds: float = NODE_TTL_SECONDS,
                 room_lease_seconds: float = ROOM_LEASE_SECONDS) -> None:
        self.node_url = node_url.rstrip("/")
        self.node_id = node_id or secrets.token_hex(6)
        self.capacity = capacity  # participants this node takes (0: no limit), reported to the others
        self.draining = False  # takes no new rooms (reported to the others)
        self.heartbeat_seconds, self.node_ttl_seconds = heartbeat_seconds, node_ttl_seconds
        self.room_lease_seconds = room_lease_seconds
        self._redis = aioredis.from_url(redis_url, decode_responses=True, socket_timeout=2.0,
                                        socket_connect_timeout=2.0)
        self._claim = self._redis.register_script(_CLAIM)
        self._renew_or_release = self._redis.register_script(_RENEW_OR_RELEASE)
        self._hand_over = self._redis.register_script(_HAND_OVER)
        self._hosted: Callable[[], dict[str, int]] = dict
        self._claimed: set[str] = set()  # rooms placed here and not released (their members may not be in yet)
        self._started_at = time.time()
        self._heartbeat: asyncio.Task | None = None
        self._healthy = False
        self._on_lost: RoomLost | None = None
        self._describe: NodeDescription | None = None

    async def start(self, hosted: Callable[[], dict[str, int]], on_lost: RoomLost | None = None,
                    describe: NodeDescription | None = None) -> None:
        """Register this node and keep it registered; ``PlacementUnavailable`` if Redis is not there.
        ``hosted`` gives the rooms this node hosts now with their member counts; ``on_lost`` is told
        of a hosted room another node has taken meanwhile; ``describe`` gives what an admin sees of
        this node, published with each report for the other nodes' ``other_views``."""
        self._hosted = hosted
        self._on_lost = on_lost
        self._describe = describe
        with _reachable():
            await self._report()
        self._healthy = True
        self._heartbeat = asyncio.ensure_future(self._beat())
        logger.info("cluster node %s (%s) registered", self.node_id, self.node_url)

    async def close(self) -> None:
        """Stop the heartbeat and withdraw this node and its rooms, so others may take them at once."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        try:
            for room in self._claimed | set(self._hosted()):
                await self.release(room)
            await self._redis.delete(self._node_key(self.node_id), self._view_key(self.node_id))
        except (RedisError, PlacementUnavailable) as error:
            logger.warning("could not withdraw node %s from Redis: %s", self.node_id, error)
        await self._redis.aclose()

    async def place(self, room: str, here: bool = True) -> str | None:
        """Claim ``room`` for this node unless a live node holds it; that node's URL if one does. With
        ``here`` False (this node is full or draining), a room nobody holds is claimed for the least
        busy live node with room to spare and its URL returned; ``ServerFull`` if no node has room."""
        with _reachable():
            claimant = self.node_id if here else await self._node_with_room(room)
            if claimant is None:
                return None  # this node holds the room already
            owner = await self._claim(keys=[self._room_key(room)],
                                      args=[claimant, int(self.room_lease_seconds * 1000), self._node_key("")])
            if owner == self.node_id:
                self._claimed.add(room)
                return None
            return await self._url_of(owner)

    async def _node_with_room(self, room: str) -> str | None:
        """For a full node: the id of the node a claim of ``room`` should name. The live node holding
        it (None if this one), else the least busy other node with room to spare (claimed for it
        unless someone claims the room first); ``ServerFull`` if there is none."""
        owner = await self._redis.get(self._room_key(room))
        if owner == self.node_id:
            return None
        if owner is not None and await self._redis.exists(self._node_key(owner)):
            return owner
        spare = [node for node in await self.nodes() if node.id != self.node_id and node.has_room]
        if not spare:
            raise ServerFull("every node of the cluster is full or draining; try again later")
        return least_busy(spare).id

    async def locate(self, room: str) -> str | None:
        """The URL of the live node holding ``room`` if it is not this one; None otherwise."""
        with _reachable():
            owner = await self._redis.get(self._room_key(room))
            if owner is None or owner == self.node_id:
                return None
            return await self._url_of(owner)

    async def release(self, room: str) -> None:
        """Give ``room`` up (it emptied here), if this node still holds it."""
        self._claimed.discard(room)
        with _reachable():
            await self._renew_or_release(keys=[self._room_key(room)], args=[self.node_id, 0])

    async def hand_over(self, room: str) -> str | None:
        """Give ``room`` to the least busy live node with room to spare, else the least busy one not
        draining, else the least busy (this node is stopping); that node's URL, or None if there is no
        other node or the room is not this node's to give."""
        others = [node for node in await self.nodes() if node.id != self.node_id]
        if not others:
            return None
        successor = least_busy([node for node in others if node.has_room]
                               or [node for node in others if not node.draining] or others)
        with _reachable():
            given = await self._hand_over(keys=[self._room_key(room)],
                                          args=[self.node_id, successor.id, int(self.room_lease_seconds * 1000)])
        self._claimed.discard(room)
        return successor.url if given else None

    async def set_draining(self, draining: bool) -> None:
        """Take no new rooms (True), or take them again; the other nodes are told at once
        (``PlacementUnavailable`` if Redis cannot be reached: the flag is set, and goes out with the
        next report)."""
        self.draining = draining
        with _reachable():
            await self._report()

    async def nodes(self) -> list[NodeInfo]:
        """Every live node, this one included, by id (the others' figures are up to a heartbeat old)."""
        with _reachable():
            keys = [key async for key in self._redis.scan_iter(match=self._node_key("*"), count=100)]
            reports = await self._redis.mget(keys) if keys else []
        nodes = {node.id: node for node in (NodeInfo.from_report(report) for report in reports if report)}
        nodes[self.node_id] = self._report_now()  # this node's own figures live, the others' as last reported
        return sorted(nodes.values(), key=lambda node: node.id)

    async def other_views(self) -> list[NodeView]:
        """What an admin sees of the other live nodes, by node id (each up to a heartbeat old; a node
        that publishes nothing, such as an older release, is left out)."""
        with _reachable():
            others = [node for node in await self.nodes() if node.id != self.node_id]
            views = await self._redis.mget([self._view_key(node.id) for node in others]) if others else []
        found = []
        for node, text in zip(others, views):
            view = json.loads(text) if text is not None else None
            if isinstance(view, dict):  # entries another release shapes otherwise are left out
                rooms = [room for room in view.get("rooms", []) if isinstance(room, dict)
                         and isinstance(room.get("room"), str)]
                recordings = [r for r in view.get("recordings", []) if isinstance(r, dict) and isinstance(
                    r.get("id"), str) and isinstance(r.get("started_at"), (int, float))]
                found.append(NodeView(node.id, node.url, node.seen_at, rooms, recordings))
        return found

    @property
    def healthy(self) -> bool:
        """Whether the last heartbeat reached Redis."""
        return self._healthy

    async def _url_of(self, node_id: str) -> str:
        report = await self._redis.get(self._node_key(node_id))
        if report is None:  # it lapsed between the claim and now: the next attempt takes the room
            raise PlacementUnavailable(f"the node holding the room ({node_id}) has just gone; try again")
        return json.loads(report)["url"]

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self._report()
                if not self._healthy:
                    logger.info("Redis reachable again: node %s reports in", self.node_id)
                self._healthy = True
            except RedisError as error:
                if self._healthy:
                    logger.warning("Redis unreachable, rooms cannot be placed: %s", error)
                self._healthy = False

    def _report_now(self) -> NodeInfo:
        rooms = self._hosted()
        return NodeInfo(self.node_id, self.node_url, sorted(rooms), sum(rooms.values()), self._started_at, time.time(),
                        self.capacity, self.draining)

    def _view(self) -> str | None:
        """What an admin sees of this node, as JSON (its newest ``PUBLISHED_RECORDINGS`` recordings);
        None if it has no ``describe`` or that failed (logged: the report, which keeps the node's
        rooms, goes out regardless)."""
        if self._describe is None:
            return None
        try:
            view = self._describe()
            recordings = sorted(view.get("recordings", []), key=lambda r: r["started_at"])
            return json.dumps({**view, "recordings": recordings[-PUBLISHED_RECORDINGS:]})
        except Exception:
            logger.exception("describing this node for the others failed")
            return None

    async def _report(self) -> None:
        report = self._report_now()
        lapse = int(self.node_ttl_seconds * 1000)
        view = self._view()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._node_key(self.node_id), json.dumps(asdict(report)), px=lapse)
            if view is not None:
                pipe.set(self._view_key(self.node_id), view, px=lapse)
            await pipe.execute()
        for room in report.rooms:
            renewed = await self._renew_or_release(keys=[self._room_key(room)],
                                                   args=[self.node_id, int(self.room_lease_seconds * 1000)])
            if renewed:
                continue
            holder = await self.place(room)  # the claim lapsed: take it again, unless another node has it
            if holder is None:
                continue
            logger.warning("room %s, hosted here, was taken by the node at %s while this node was cut off "
                           "from Redis: its members here are sent there", room, holder)
            if self._on_lost is not None:
                try:
                    await self._on_lost(room, holder)
                except Exception:
                    logger.exception("sending room %s's members to %s failed", room, holder)

    @staticmethod
    def _node_key(node_id: str) -> str:
        return f"{KEY_PREFIX}node:{node_id}"

    @staticmethod
    def _view_key(node_id: str) -> str:
        return f"{KEY_PREFIX}node-view:{node_id}"

    @staticmethod
    def _room_key(room: str) -> str:
        return f"{KEY_PREFIX}room:{room}"
