"""A cluster's shared stores in Redis: uploaded backgrounds and room settings, the same for every node.

Keys (one Redis per cluster):

- ``backdrop:backgrounds``: a hash, background id -> its record (JSON);
- ``backdrop:background-image:<id>``: the normalised JPEG;
- ``backdrop:backgrounds:version``: counts the uploads and deletes, so nodes notice them;
- ``backdrop:room-settings``: a hash, room -> its settings (JSON);
- ``backdrop:admin-token``: the admin token the first node generated, when none is configured.

Reads come from memory, as with the embedded stores: every node keeps the records and settings it
read last, and refreshes them when told (``follow_backgrounds``, ``refresh``). An image is fetched
once per node into a local cache file (its content never changes: a new upload gets a new id).
Every method is synchronous, like the embedded stores: call the slow ones from a thread.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import redis

from .background_store import TEMP_PREFIX, BackgroundRecord, BackgroundStore, clean_name, is_background_id
from .image_intake import IntakeLimits, normalise
from .lru import LruCache
from .room_settings import RoomSettings, RoomSettingsStore, settings_as_json, settings_from_json

logger = logging.getLogger(__name__)

KEY_PREFIX = "backdrop:"
_RECORDS = f"{KEY_PREFIX}backgrounds"
_VERSION = f"{KEY_PREFIX}backgrounds:version"
_ROOM_SETTINGS = f"{KEY_PREFIX}room-settings"
_ADMIN_TOKEN = f"{KEY_PREFIX}admin-token"


def _image_key(background_id: str) -> str:
    return f"{KEY_PREFIX}background-image:{background_id}"


def connect(redis_url: str) -> redis.Redis:
    """A client of the cluster's Redis (bytes in and out, short timeouts); ``redis.RedisError`` if
    it does not answer."""
    client = redis.Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    client.ping()
    return client


def shared_admin_token(client: redis.Redis) -> str:
    """The cluster's admin token: the one a node stored first, else a new one stored now."""
    client.set(_ADMIN_TOKEN, secrets.token_urlsafe(32), nx=True)
    return client.get(_ADMIN_TOKEN).decode()


@dataclass(frozen=True)
class BackgroundChanges:
    """What other nodes uploaded or deleted since this node last looked."""

    added: frozenset[str]
    removed: frozenset[str]


class RedisBackgroundStore(BackgroundStore):
    """The background store of a cluster: records and images in Redis, images cached in
    ``data_dir/backgrounds-cache`` (thumbnails and checks as in the embedded store)."""

    def __init__(self, client: redis.Redis, data_dir: Path, limits: IntakeLimits = IntakeLimits()) -> None:
        # The embedded store's SQLite and crash sweep are not used: Redis holds the records.
        self.limits = limits
        self.directory = data_dir / "backgrounds-cache"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._redis = client
        self._thumbnails: LruCache[bytes] = LruCache(64)
        self._records: dict[str, BackgroundRecord] = {}
        self._version: int | None = None
        self.follow_backgrounds()
        for path in self.directory.iterdir():  # a cached image of a background deleted meanwhile
            if path.name.startswith(TEMP_PREFIX) or path.name.removesuffix(".jpg") not in self._records:
                path.unlink(missing_ok=True)

    def add(self, data: bytes, name: str | None = None, filename: str | None = None) -> BackgroundRecord:
        """Validate, normalise and store an upload for the whole cluster (image and record in one
        transaction: a node dying midway leaves neither); ``ImageRejected`` stores nothing."""
        display_name = clean_name(name, filename)
        image = normalise(data, self.limits)
        record = BackgroundRecord(secrets.token_hex(8), display_name, image.width, image.height, len(image.jpeg),
                                  datetime.now(timezone.utc).isoformat(timespec="seconds"))
        with self._redis.pipeline(transaction=True) as transaction:
            transaction.set(_image_key(record.id), image.jpeg)
            transaction.hset(_RECORDS, record.id, json.dumps(record.as_dict()))
            transaction.incr(_VERSION)
            transaction.execute()
        self._records[record.id] = record
        self._cache(record.id, image.jpeg)
        logger.info("background %s stored in the cluster (%dx%d, %d bytes)", record.id, record.width,
                    record.height, record.bytes)
        return record

    def list(self) -> list[BackgroundRecord]:
        """Every stored background, oldest first (as this node last read them)."""
        return sorted(self._records.values(), key=lambda record: (record.created, record.id))

    def get(self, background_id: str) -> BackgroundRecord | None:
        """One background, or None (as this node last read them)."""
        return self._records.get(background_id) if is_background_id(background_id) else None

    def delete(self, background_id: str) -> bool:
        """Remove a background from the cluster (record and image in one transaction); whether it existed."""
        if not is_background_id(background_id):
            return False
        with self._redis.pipeline(transaction=True) as transaction:
            transaction.hdel(_RECORDS, background_id)
            transaction.delete(_image_key(background_id))
            transaction.incr(_VERSION)
            existed, _, _ = transaction.execute()
        self._forget(background_id)
        if existed:
            logger.info("background %s deleted from the cluster", background_id)
        return bool(existed)

    def image_path(self, background_id: str) -> Path:
        """The background's JPEG in this node's cache, fetched from Redis the first time (a path that
        does not exist if the background does not)."""
        path = super().image_path(background_id)
        if not path.exists() and background_id in self._records:
            data = self._redis.get(_image_key(background_id))
            if data is not None:
                self._cache(background_id, data)
        return path

    def follow_backgrounds(self) -> BackgroundChanges | None:
        """Read the records again if any node uploaded or deleted since the last look; what changed,
        or None if nothing did."""
        version = int(self._redis.get(_VERSION) or 0)
        if version == self._version:
            return None
        self._version = version
        stored = self._redis.hgetall(_RECORDS)
        records = {key.decode(): BackgroundRecord(**json.loads(value)) for key, value in stored.items()}
        changes = BackgroundChanges(frozenset(records) - set(self._records), frozenset(self._records) - set(records))
        self._records = records
        for background_id in changes.removed:
            self._forget(background_id)
        return changes

    def _forget(self, background_id: str) -> None:
        self._records.pop(background_id, None)
        super().image_path(background_id).unlink(missing_ok=True)
        self._thumbnails.discard(lambda key: key[0] == background_id)

    def _cache(self, background_id: str, data: bytes) -> None:
        final = super().image_path(background_id)
        temporary = self.directory / f"{TEMP_PREFIX}{background_id}-{secrets.token_hex(4)}.jpg"
        temporary.write_bytes(data)
        os.replace(temporary, final)


class RedisRoomSettingsStore(RoomSettingsStore):
    """Room settings shared by a cluster: written through to Redis, read from memory (``get``). The
    node hosting a room reads its settings again when it takes the room (``refresh``)."""

    def __init__(self, client: redis.Redis) -> None:  # the embedded store's SQLite is not used
        self._redis = client
        self._settings = {room.decode(): settings_from_json(value)
                          for room, value in client.hgetall(_ROOM_SETTINGS).items()}

    def put(self, room: str, settings: RoomSettings) -> None:
        """Replace the room's settings, for the whole cluster."""
        self._redis.hset(_ROOM_SETTINGS, room, settings_as_json(settings))
        self._settings[room] = settings

    def refresh(self, room: str) -> None:
        """Read the room's settings again (another node may have set them since); if Redis does not
        answer, the last ones read stay."""
        try:
            value = self._redis.hget(_ROOM_SETTINGS, room)
        except redis.RedisError as error:
            logger.warning("room %s keeps the settings read before: %s", room, error)
            return
        if value is None:
            self._settings.pop(room, None)
        else:
            self._settings[room] = settings_from_json(value)

    def forget_background(self, background_id: str) -> list[str]:
        """Rooms that used ``background_id`` go back to the default (in every room the cluster knows);
        their names."""
        stored = {room.decode(): settings_from_json(value) for room, value in self._redis.hgetall(_ROOM_SETTINGS).items()}
        self._settings.update(stored)
        rooms = [room for room, settings in stored.items() if settings.background_id == background_id]
        for room in rooms:
            self.put(room, replace(stored[room], background_id=None))
        return rooms
