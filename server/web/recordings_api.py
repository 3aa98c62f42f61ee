"""``/api/rooms/{room}/recordings`` and ``/api/recordings``: record a participant's composite or a room's
shared scene to WebM (VP8 as the room gets it, and its sound in Opus), stop, list, download, delete.
Every route needs the admin token."""

from __future__ import annotations

from aiohttp import web

from ..rtc.recordings import Recordings
from .admin_auth import require_admin
from .api_errors import ApiError
from .cluster_view import cluster_recordings, keeper_of, other_views, recording_list, this_view
from .keys import CONFERENCE, RECORDINGS
from .rooms_api import json_object, refuse_room_elsewhere, room_in_path

START_FIELDS = ("participant", "view")


def add_routes(app: web.Application) -> None:
    """Register the recording routes on the API sub-application."""
    app.router.add_post("/rooms/{room}/recordings", start_recording)
    app.router.add_get("/recordings", list_recordings)
    app.router.add_get("/recordings/{recording}", get_recording)
    app.router.add_post("/recordings/{recording}/stop", stop_recording)
    app.router.add_get("/recordings/{recording}/file", recording_file)
    app.router.add_delete("/recordings/{recording}", delete_recording)


async def start_recording(request: web.Request) -> web.Response:
    """Start recording ``{"participant": ID or NAME}`` or ``{"view": "scene"}``: 201 and the recording.
    It ends by ``stop``, or by itself when the participant leaves or the scene closes."""
    require_admin(request)
    room = room_in_path(request)
    body = await json_object(request)
    unknown = sorted(set(body) - set(START_FIELDS))
    participant, view = body.get("participant"), body.get("view")
    if unknown or (participant is None) == (view is None):
        raise ApiError(400, "bad_recording", f'give {{"participant": ID or NAME}} or {{"view": "scene"}}; unknown: {unknown}')
    if view is not None and view != "scene":
        raise ApiError(400, "bad_recording", 'view must be "scene"')
    if participant is not None and (not isinstance(participant, str) or not participant):
        raise ApiError(400, "bad_recording", "participant must be an id or a name")
    await refuse_room_elsewhere(request, room)
    recordings = request.config_dict[RECORDINGS]
    info = await recordings.start(room, participant)  # RecordingError: answered by api_errors
    location = f"/api/recordings/{info.id}"
    return web.json_response(recordings.describe(info), status=201, headers={"Location": location})


async def list_recordings(request: web.Request) -> web.Response:
    """Every recording of the cluster, oldest first, running or finished, each with the node that keeps
    it (``node``, ``node_url``, ``this``: what is asked of a recording is asked of its node). Another
    node's are as it last published them (its newest ``PUBLISHED_RECORDINGS``, up to a heartbeat
    old); with Redis out of reach, this node's alone."""
    require_admin(request)
    conference = request.config_dict[CONFERENCE]
    here = this_view(conference, recordings=recording_list(request.config_dict[RECORDINGS]))
    return web.json_response({"recordings": cluster_recordings(here, await other_views(conference))})


async def get_recording(request: web.Request) -> web.Response:
    """One recording's description."""
    require_admin(request)
    recordings, recording_id = await _recording(request)
    return web.json_response(recordings.describe(recordings.store.get(recording_id)))


async def stop_recording(request: web.Request) -> web.Response:
    """Stop a running recording: 200 once its file is complete; 409 if it already stopped."""
    require_admin(request)
    recordings, recording_id = await _recording(request)
    info = await recordings.stop(recording_id)  # RecordingError: answered by api_errors
    return web.json_response(recordings.describe(info))


async def recording_file(request: web.Request) -> web.StreamResponse:
    """The WebM file of a finished recording (409 while it is still being written)."""
    require_admin(request)
    recordings, recording_id = await _recording(request)
    if recordings.is_active(recording_id):
        raise ApiError(409, "still_recording", f"recording {recording_id} is still being written: stop it first")
    path = recordings.store.media_path(recording_id)
    if not path.exists():
        raise ApiError(404, "no_media", f"recording {recording_id} has no file (nothing was recorded)")
    return web.FileResponse(path, headers={
        "Content-Type": "video/webm",
        "Content-Disposition": f'attachment; filename="backdrop-{recording_id}.webm"'})


async def delete_recording(request: web.Request) -> web.Response:
    """Delete a recording (stopping it first if it runs): 204."""
    require_admin(request)
    recordings, recording_id = await _recording(request)
    await recordings.delete(recording_id)  # RecordingError: answered by api_errors
    return web.Response(status=204)


async def _recording(request: web.Request) -> tuple[Recordings, str]:
    """The recordings and the route's ``{recording}``, kept by this node; else 409
    ``recording_elsewhere`` naming the node that keeps it, or 404 ``unknown_recording``."""
    recordings = request.config_dict[RECORDINGS]
    recording_id = request.match_info["recording"]
    if recordings.store.get(recording_id) is None:
        keeper = keeper_of(recording_id, await other_views(request.config_dict[CONFERENCE]))
        if keeper is not None:
            raise ApiError(409, "recording_elsewhere",
                           f"recording {recording_id} is kept by the node at {keeper.url}: send this request there "
                           f"({keeper.url}{request.path_qs})")
        raise ApiError(404, "unknown_recording", f"no recording {recording_id!r}")
    return recordings, recording_id
