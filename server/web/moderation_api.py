"""``/api/rooms/{room}/participants/{participant}``: a moderator mutes, unmutes or removes a
participant (by id, or by name: the earliest joined of that name)."""

from __future__ import annotations

from aiohttp import web

from ..rtc.conference import Conference
from ..rtc.participant import Participant
from .admin_auth import require_admin
from .api_errors import ApiError
from .keys import CONFERENCE
from .rooms_api import json_object, refuse_room_elsewhere, room_in_path

MEDIA_FIELDS = ("microphone", "camera")
REMOVED = "removed"
"""The reason a removed participant is given (``left {reason}``); their page does not rejoin."""


def add_routes(app: web.Application) -> None:
    """Register the moderation routes on the API sub-application."""
    app.router.add_patch("/rooms/{room}/participants/{participant}", patch_participant)
    app.router.add_delete("/rooms/{room}/participants/{participant}", delete_participant)


async def patch_participant(request: web.Request) -> web.Response:
    """Mute or unmute a participant's microphone or camera; the server enforces it (silence, the bare
    background) and their page's buttons follow. They may unmute themselves afterwards."""
    require_admin(request)
    conference, participant = await _participant(request)
    body = await json_object(request)
    unknown = sorted(set(body) - set(MEDIA_FIELDS))
    if unknown or not body:
        raise ApiError(400, "unknown_field", f"give microphone and/or camera (true or false); unknown: {unknown}")
    await conference.set_media(participant, body.get("microphone"), body.get("camera"), by_moderator=True)
    return web.json_response({**participant.describe(), "room": participant.room})


async def delete_participant(request: web.Request) -> web.Response:
    """Remove a participant from their room: every connection of theirs closes, the room is told, and
    their page shows why instead of rejoining."""
    require_admin(request)
    conference, participant = await _participant(request)
    await conference.remove(participant, REMOVED)
    return web.Response(status=204)


async def _participant(request: web.Request) -> tuple[Conference, Participant]:
    room, reference = room_in_path(request), request.match_info["participant"]
    await refuse_room_elsewhere(request, room)
    conference = request.config_dict[CONFERENCE]
    participant = conference.find(room, reference)
    if participant is None:
        raise ApiError(404, "unknown_participant", f"no participant {reference!r} in room {room}")
    return conference, participant
