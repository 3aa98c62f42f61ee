"""``/api/rooms``: assign a room's background and statistic (applied live), and watch active rooms."""

from __future__ import annotations

import json
from dataclasses import replace

from aiohttp import web

from ..imaging.quality import check_statistic
from ..rtc.rooms import ROOM_NAME_RULE, is_room_name
from ..storage.room_settings import RoomSettings
from .admin_auth import require_admin
from .api_errors import ApiError
from .keys import CONFERENCE

ROOM_FIELDS = ("background_id", "statistic", "latency_probe")


def add_routes(app: web.Application) -> None:
    """Register the room routes on the API sub-application."""
    app.router.add_put("/rooms/{room}", put_room)
    app.router.add_get("/rooms", list_rooms)


async def put_room(request: web.Request) -> web.Response:
    """Set a room's background, statistic and latency probing; a field left out keeps its value, null
    resets the first two."""
    require_admin(request)
    room = request.match_info["room"]
    if not is_room_name(room):
        raise ApiError(400, "bad_room", ROOM_NAME_RULE)
    body = await _json_object(request)
    unknown = sorted(set(body) - set(ROOM_FIELDS))
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown fields {unknown}; accepted: {list(ROOM_FIELDS)}")
    conference = request.config_dict[CONFERENCE]
    settings = conference.room_settings.get(room)
    if "background_id" in body:
        background_id = body["background_id"]
        if background_id is not None and (not isinstance(background_id, str)
                                          or not conference.backgrounds.has(background_id)):
            raise ApiError(400, "unknown_background", f"no background {background_id!r}")
        settings = replace(settings, background_id=background_id)
    if "statistic" in body:
        statistic = body["statistic"]
        if statistic is not None:
            try:
                check_statistic(statistic)
            except ValueError as error:
                raise ApiError(400, "bad_statistic", str(error)) from None
        settings = replace(settings, statistic=statistic)
    if "latency_probe" in body:
        if not isinstance(body["latency_probe"], bool):
            raise ApiError(400, "bad_latency_probe", "latency_probe must be true or false")
        settings = replace(settings, latency_probe=body["latency_probe"])
    await conference.configure_room(room, settings)
    return web.json_response(_describe(room, settings, len(conference.members(room))))


async def list_rooms(request: web.Request) -> web.Response:
    """Active rooms, their participants and each stream's live quality."""
    require_admin(request)
    return web.json_response(request.config_dict[CONFERENCE].admin_view())


def _describe(room: str, settings: RoomSettings, participants: int) -> dict:
    return {"room": room, "background_id": settings.background_id, "statistic": settings.statistic,
            "latency_probe": settings.latency_probe, "participants": participants}


async def _json_object(request: web.Request) -> dict:
    try:
        body = json.loads(await request.text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "bad_json", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return body
