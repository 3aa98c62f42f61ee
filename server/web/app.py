"""The aiohttp application factory: every resource set up and torn down in a cleanup context."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from ..pipeline.pool import WorkerPool
from ..rtc import aiortc_patches
from ..rtc.conference import Conference
from ..rtc.rooms import InMemoryRoomDirectory
from ..settings import Settings
from ..storage.builtin_backgrounds import BackgroundCatalog
from .keys import CONFERENCE, POOL, SETTINGS
from .signaling import signaling_handler

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> web.Application:
    """The whole server as an aiohttp application."""
    app = web.Application(client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_pipeline)
    app.cleanup_ctx.append(_conference)
    app.router.add_get("/ws", signaling_handler)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/", _index)
    app.router.add_static("/static/", settings.client_dir, show_index=False)
    return app


async def _pipeline(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    aiortc_patches.install()
    if settings.offers_loopback:
        aiortc_patches.offer_loopback_candidates()
    pool = WorkerPool(settings.workers)
    await pool.start()
    app[POOL] = pool
    logger.info("worker pool ready: %d workers", settings.workers)
    yield
    await pool.stop()


async def _conference(app: web.Application) -> AsyncIterator[None]:
    conference = Conference(app[SETTINGS], app[POOL], InMemoryRoomDirectory(), BackgroundCatalog())
    conference.start()
    app[CONFERENCE] = conference
    yield
    await conference.close()


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(request.app[SETTINGS].client_dir / "index.html")


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    pool = request.app.get(POOL)
    ready = pool is not None and pool.ready
    return web.json_response({"ready": ready}, status=200 if ready else 503)
