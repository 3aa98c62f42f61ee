"""Typed application keys: everything the handlers share lives on the app, never in globals."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..pipeline.pool import WorkerPool
from ..rtc.conference import Conference
from ..rtc.media_sessions import MediaSessions
from ..rtc.recordings import Recordings
from ..settings import Settings
from ..storage.background_store import BackgroundStore
from ..storage.room_settings import RoomSettingsStore
from .metrics import ServerMetrics

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", WorkerPool)
CONFERENCE = web.AppKey("conference", Conference)
BACKGROUND_STORE = web.AppKey("background_store", BackgroundStore)
ROOM_SETTINGS = web.AppKey("room_settings", RoomSettingsStore)
ADMIN_TOKEN = web.AppKey("admin_token", str)
UPLOAD_SLOTS = web.AppKey("upload_slots", asyncio.Semaphore)
MEDIA_SESSIONS = web.AppKey("media_sessions", MediaSessions)
METRICS = web.AppKey("metrics", ServerMetrics)
RECORDINGS = web.AppKey("recordings", Recordings)
SIGNALING_SOCKETS = web.AppKey("signaling_sockets", set)
"""The open signaling WebSockets, closed when the server stops (aiohttp's graceful shutdown)."""
