"""The aiohttp application factory: every resource set up and torn down in a cleanup context."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from redis import RedisError

from ..errors import BackdropError
from ..pipeline.pool import WorkerPool
from ..rtc import aiortc_patches
from ..rtc.conference import Conference
from ..rtc.ice_servers import check_ice_urls
from ..rtc.media_sessions import MediaSessions
from ..rtc.nat import bind_ice_sockets_within, check_public_addresses
from ..rtc.recordings import Recordings
from ..rtc.redis_placement import RedisPlacement
from ..rtc.room_placement import LocalPlacement, PlacementUnavailable, RoomPlacement
from ..rtc.rooms import InMemoryRoomDirectory
from ..rtc.shared_backgrounds import follow_shared_backgrounds
from ..settings import Settings
from ..storage import redis_stores
from ..storage.background_store import BackgroundStore
from ..storage.catalog import BackgroundCatalog
from ..storage.database import Database
from ..storage.image_intake import IntakeLimits
from ..storage.recording_store import RecordingStore
from ..storage.room_settings import RoomSettingsStore
from .admin_auth import resolve_admin_token
from .api import create_api_app
from .cluster_view import node_description
from .keys import (
    ADMIN_TOKEN, BACKGROUND_STORE, CONFERENCE, MEDIA_SESSIONS, METRICS, POOL, RECORDINGS, ROOM_SETTINGS,
    SETTINGS, SIGNALING_SOCKETS, UPLOAD_SLOTS,
)
from .metrics import ServerMetrics, metrics_response
from .signaling import close_signaling_sockets, signaling_handler
from .whip_whep import create_whep_app, create_whip_app

DATABASE_FILE_NAME = "backdrop.sqlite3"
UPLOADS_DECODED_AT_ONCE = 2
"""Uploads validated and normalised concurrently (a 40 MP decode holds about 120 MB)."""

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> web.Application:
    """The whole server as an aiohttp application; ``BackdropError`` if the browser client is missing or
    the ICE servers or public addresses are malformed."""
    if not (settings.client_dir / "index.html").is_file():
        raise BackdropError(
            f"the browser client is not at {settings.client_dir}: a wheel does not carry client_web/, so "
            "install from a checkout (pip install -e .) or set BACKDROP_CLIENT_DIR to a copy of the "
            "repository's client_web folder (the Docker image does)")
    try:
        check_ice_urls(settings.ice_servers, settings.turn_secret)
        check_public_addresses(settings.public_addresses)
        check_cluster_settings(settings.redis_url, settings.node_url)
    except ValueError as error:
        raise BackdropError(str(error)) from None
    app = web.Application(client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app[METRICS] = ServerMetrics(lambda: app.get(CONFERENCE), lambda: app.get(POOL), lambda: app.get(RECORDINGS))
    app.cleanup_ctx.append(_storage)
    app.cleanup_ctx.append(_pipeline)
    app.cleanup_ctx.append(_conference)
    app[SIGNALING_SOCKETS] = set()
    app.on_shutdown.append(_hand_over_rooms)
    app.on_shutdown.append(close_signaling_sockets)  # after the hand-over has told them where to go
    app.add_subapp("/api/", create_api_app())
    app.add_subapp("/whip/", create_whip_app())
    app.add_subapp("/whep/", create_whep_app())
    app.router.add_get("/ws", signaling_handler)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/", _page("index.html"))
    app.router.add_get("/admin", _page("admin.html"))
    for page in ("index.html", "admin.html", "whep.html"):
        app.router.add_get(f"/{page}", _page(page))
    app.router.add_static("/static/", settings.client_dir, show_index=False)
    return app


async def _storage(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.join_secret and len(settings.join_secret.encode()) < 32:
        logger.warning("the join secret is shorter than 32 bytes: HS256 tokens signed with it are easier to forge")
    limits = IntakeLimits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_upload_pixels)
    app[UPLOAD_SLOTS] = asyncio.Semaphore(UPLOADS_DECODED_AT_ONCE)
    if settings.redis_url:  # a cluster: what admins set is shared through Redis
        try:
            client = await asyncio.to_thread(redis_stores.connect, settings.redis_url)
            app[ADMIN_TOKEN] = settings.admin_token or await asyncio.to_thread(redis_stores.shared_admin_token, client)
            app[BACKGROUND_STORE] = await asyncio.to_thread(redis_stores.RedisBackgroundStore, client,
                                                            settings.data_dir, limits)
            app[ROOM_SETTINGS] = await asyncio.to_thread(redis_stores.RedisRoomSettingsStore, client)
        except RedisError as error:
            raise BackdropError(f"cannot reach Redis: {error} (--redis-url {settings.redis_url})") from None
        yield
        client.close()
        return
    app[ADMIN_TOKEN] = resolve_admin_token(settings)
    database = Database(settings.data_dir / DATABASE_FILE_NAME)
    app[BACKGROUND_STORE] = BackgroundStore(settings.data_dir, database, limits)
    app[ROOM_SETTINGS] = RoomSettingsStore(database)
    yield
    database.close()


async def _pipeline(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    aiortc_patches.install()
    if settings.offers_loopback:
        aiortc_patches.offer_loopback_candidates()
    if settings.ice_ports is not None:
        bind_ice_sockets_within(asyncio.get_running_loop(), settings.ice_ports)
        logger.info("media sockets bind in UDP ports %d-%d", *settings.ice_ports)
    if settings.public_addresses:
        logger.info("ICE host candidates announce %s", " and ".join(settings.public_addresses))
    pool = WorkerPool(settings.workers)
    await pool.start()
    app[POOL] = pool
    logger.info("worker pool ready: %d workers", settings.workers)
    yield
    await pool.stop()


async def _conference(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    placement: RoomPlacement = (RedisPlacement(settings.redis_url, settings.node_url or "",
                                               capacity=settings.max_participants)
                                if settings.redis_url else LocalPlacement(settings.max_participants))
    conference = Conference(settings, app[POOL], InMemoryRoomDirectory(), BackgroundCatalog(app[BACKGROUND_STORE]),
                            app[ROOM_SETTINGS], app[METRICS], placement)
    recordings = Recordings(RecordingStore(settings.data_dir), conference)
    try:
        await placement.start(conference.hosted_rooms, conference.hosting.moved,
                              lambda: node_description(conference, recordings))
    except PlacementUnavailable as error:
        raise BackdropError(f"{error} (--redis-url {settings.redis_url})") from None
    conference.start()
    store = app[BACKGROUND_STORE]
    following = (asyncio.ensure_future(follow_shared_backgrounds(store, conference))
                 if isinstance(store, redis_stores.RedisBackgroundStore) else None)
    app[METRICS].start()
    app[CONFERENCE] = conference
    sessions = MediaSessions(conference, media_timeout=app[SETTINGS].whip_media_timeout)
    app[MEDIA_SESSIONS] = sessions
    app[RECORDINGS] = recordings
    yield
    await recordings.close()
    await sessions.close()
    await app[METRICS].stop()
    if following is not None:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
    await conference.close()
    await placement.close()


async def _hand_over_rooms(app: web.Application) -> None:
    # Stopping (SIGTERM, a rolling deploy): before connections close, a cluster node moves its calls
    # to another node. Alone, it has nowhere to send them.
    conference = app.get(CONFERENCE)
    if conference is not None:
        await conference.hosting.hand_over()


def check_cluster_settings(redis_url: str | None, node_url: str | None) -> None:
    """``ValueError`` unless both are absent (one node) or a Redis URL comes with this node's base URL."""
    if not redis_url:
        if node_url:
            raise ValueError("--node-url (BACKDROP_NODE_URL) is for a cluster: give --redis-url too")
        return
    if urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"--redis-url must be redis://HOST:PORT[/DB], rediss://... or unix://PATH, not {redis_url!r}")
    if not node_url:
        raise ValueError("a cluster node needs --node-url (BACKDROP_NODE_URL): its base URL as clients reach it, "
                         "where the other nodes send the clients of its rooms")
    parts = urlsplit(node_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") or parts.query:
        raise ValueError(f"--node-url must be a base URL such as https://node-a.example.com, not {node_url!r}")


def _page(name: str) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
    async def serve(request: web.Request) -> web.FileResponse:
        return web.FileResponse(request.app[SETTINGS].client_dir / name)
    return serve


async def _metrics(request: web.Request) -> web.Response:
    return metrics_response(request.app[METRICS])


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    pool = request.app.get(POOL)
    conference = request.app.get(CONFERENCE)
    # Not ready while the cluster's Redis is out of reach (no room could be placed here), nor while
    # the node drains (a load balancer should send new clients elsewhere; its rooms' members still
    # reach it by its own URL).
    placement = conference.hosting.placement if conference is not None else None
    draining = placement is not None and placement.draining
    ready = pool is not None and pool.ready and placement is not None and placement.healthy and not draining
    return web.json_response({"ready": ready, "draining": draining}, status=200 if ready else 503)
