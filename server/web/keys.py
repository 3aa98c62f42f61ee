"""Typed application keys: everything the handlers share lives on the app, never in globals."""

from __future__ import annotations

from aiohttp import web

from ..pipeline.pool import WorkerPool
from ..rtc.conference import Conference
from ..settings import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", WorkerPool)
CONFERENCE = web.AppKey("conference", Conference)
