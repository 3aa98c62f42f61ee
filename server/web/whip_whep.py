"""WHIP (``/whip/{room}``) and WHEP (``/whep/{room}``) over HTTP, RFC 9725 and its playback twin.

POST an SDP offer -> 201 with the SDP answer and a ``Location`` naming the session; PATCH that
resource with a trickle-ICE SDP fragment to add candidates; DELETE it to end the session. In a
cluster, a POST for a room another node hosts gets 307 to the same URL on that node. With a
join secret set, every request needs ``Authorization: Bearer <join token for that room>``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..rtc.ice_servers import ice_servers_for
from ..rtc.media_sessions import MediaSession
from ..rtc.room_hosting import RoomElsewhere
from ..rtc.rooms import is_room_name
from .api_errors import ApiError, json_errors
from .join_tokens import JoinRefused, verify_join_token
from .keys import CONFERENCE, MEDIA_SESSIONS, SETTINGS
from .rooms_api import room_in_path

SDP = "application/sdp"
SDP_FRAGMENT = "application/trickle-ice-sdpfrag"
MAX_SDP_BYTES = 64 * 1024
_EXPOSED = "Location, ETag, Link, Retry-After"


def create_whip_app() -> web.Application:
    """The ``/whip/`` sub-application (publishing)."""
    app = web.Application(middlewares=[_cors, json_errors])
    app.router.add_post("/{room}", whip_publish)
    _add_session_routes(app, "whip")
    return app


def create_whep_app() -> web.Application:
    """The ``/whep/`` sub-application (playback)."""
    app = web.Application(middlewares=[_cors, json_errors])
    app.router.add_post("/{room}", whep_play)
    _add_session_routes(app, "whep")
    return app


@web.middleware
async def _cors(request: web.Request,
                handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Browser-based WHIP/WHEP clients on other origins: answer preflights and allow any origin (the
    endpoints authenticate with bearer tokens, never cookies)."""
    if request.method == "OPTIONS":
        endpoint = getattr(request.match_info.route, "method", None) == "OPTIONS"
        response: web.StreamResponse = await handler(request) if endpoint else web.Response(status=204)
        response.headers.update({
            "Access-Control-Allow-Methods": "POST, PATCH, DELETE, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
            "Access-Control-Max-Age": "600"})
    else:
        response = await handler(request)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = _EXPOSED
    return response


async def _endpoint_options(request: web.Request, kind: str) -> web.Response:
    """OPTIONS on an endpoint: a CORS preflight, and the ICE servers to use as ``Link`` headers (with
    fresh TURN credentials), which a client can read before it makes its offer (the 201's Link
    headers come after it). When joins need a token, only a caller showing one for the room gets
    them; a preflight, which carries none, gets a plain 204."""
    response = web.Response(status=204)
    room = request.match_info["room"]
    if not is_room_name(room):
        return response
    try:
        identity = _authorize(request, room)
    except ApiError:
        return response
    # The TURN username carries who holds it; kept to characters that need no quoting in a Link header.
    _link_ice_servers(request, response, re.sub(r"[^A-Za-z0-9._-]", "_", f"{kind}-{identity or secrets.token_hex(4)}"))
    return response


def _link_ice_servers(request: web.Request, response: web.Response, holder: str) -> None:
    """Add the ICE servers as ``Link`` headers (RFC 9725's format), TURN with ``holder``'s credentials."""
    settings = request.config_dict[SETTINGS]
    for server in ice_servers_for(settings.ice_servers, settings.turn_secret, holder, time.time()):
        response.headers.add("Link", server.as_link())


def _add_session_routes(app: web.Application, kind: str) -> None:
    """The endpoint's OPTIONS and a session's PATCH and DELETE, for ``kind`` (whip or whep)."""
    async def options(request: web.Request) -> web.Response:
        return await _endpoint_options(request, kind)

    async def patch(request: web.Request) -> web.Response:
        return await _patch_session(request, kind)

    async def delete(request: web.Request) -> web.Response:
        return await _delete_session(request, kind)

    app.router.add_route("OPTIONS", "/{room}", options)
    app.router.add_patch("/{room}/{session}", patch)
    app.router.add_delete("/{room}/{session}", delete)


async def whip_publish(request: web.Request) -> web.Response:
    """Join the room as a publisher: ``?name=NAME`` (default: the token's identity or a generated
    name), ``?probe=1`` for a latency probe."""
    room = room_in_path(request)
    identity = _authorize(request, room)
    offer = await _read_body(request, SDP)
    name = request.query.get("name") or identity or f"whip-{secrets.token_hex(3)}"
    probe = request.query.get("probe", "").lower() in ("1", "true", "yes")
    sessions = request.config_dict[MEDIA_SESSIONS]
    try:
        session, answer = await sessions.start_whip(room, name, probe, _check_sdp(offer))
    except RoomElsewhere as elsewhere:
        return _redirect(request, elsewhere.url)
    return _created(request, session, answer)


async def whep_play(request: web.Request) -> web.Response:
    """Play ``?participant=NAME`` (a name or participant id); ``?view=scene`` plays the room's scene."""
    room = room_in_path(request)
    _authorize(request, room)
    offer = await _read_body(request, SDP)
    elsewhere = await request.config_dict[CONFERENCE].hosting.host_elsewhere(room)
    if elsewhere is not None:
        return _redirect(request, elsewhere)
    sessions = request.config_dict[MEDIA_SESSIONS]
    if request.query.get("view", "participant") == "scene":
        session, answer = await sessions.start_whep_scene(room, _check_sdp(offer))
        return _created(request, session, answer)
    target = request.query.get("participant")
    if not target:
        raise ApiError(400, "missing_participant", "name the participant to play: ?participant=NAME")
    session, answer = await sessions.start_whep(room, target, _check_sdp(offer))
    return _created(request, session, answer)


async def _patch_session(request: web.Request, kind: str) -> web.Response:
    session = _session(request, kind)
    fragment = await _read_body(request, SDP_FRAGMENT)
    try:
        await request.config_dict[MEDIA_SESSIONS].add_candidates(session, fragment)
    except ValueError as error:
        raise ApiError(400, "bad_candidate", str(error)) from None
    return web.Response(status=204)


async def _delete_session(request: web.Request, kind: str) -> web.Response:
    session = _session(request, kind)
    await request.config_dict[MEDIA_SESSIONS].end(session)
    return web.Response(status=200)


def _session(request: web.Request, kind: str) -> MediaSession:
    room = room_in_path(request)
    _authorize(request, room)
    session = request.config_dict[MEDIA_SESSIONS].get(kind, room, request.match_info["session"])
    if session is None:
        raise ApiError(404, "unknown_session", f"no {kind.upper()} session {request.match_info['session']!r} "
                       f"in room {room}")
    return session


def _authorize(request: web.Request, room: str) -> str | None:
    """The join token's identity when a join secret is set (401/403 otherwise); None when joins are open."""
    secret = request.config_dict[SETTINGS].join_secret
    if not secret:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    try:
        grant = verify_join_token(secret, token.strip() if scheme.lower() == "bearer" else None, room)
    except JoinRefused as refusal:
        status = 403 if refusal.code == "wrong_room" else 401
        raise ApiError(status, refusal.code, refusal.detail, {"WWW-Authenticate": 'Bearer realm="backdrop"'}) from None
    return grant.identity


async def _read_body(request: web.Request, content_type: str) -> str:
    if request.content_type != content_type:
        raise ApiError(415, "unsupported_media_type", f"send Content-Type: {content_type}")
    if request.content_length is not None and request.content_length > MAX_SDP_BYTES:
        raise ApiError(413, "too_large", f"the body exceeds {MAX_SDP_BYTES} bytes")
    body = await request.read()  # bounded by the app's client_max_size (413 beyond it)
    if len(body) > MAX_SDP_BYTES:
        raise ApiError(413, "too_large", f"the body exceeds {MAX_SDP_BYTES} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_sdp", "the body must be UTF-8 text") from None


def _check_sdp(text: str) -> str:
    if not text.startswith("v=0") or "\nm=" not in text:
        raise ApiError(400, "bad_sdp", "the body must be an SDP offer (v=0 ... with at least one m= line)")
    return text


def _redirect(request: web.Request, node_url: str) -> web.Response:
    """307 to the same request on the node hosting the room (RFC 9725, section 4.5: the client repeats
    its POST, offer and all, there; the session then lives on that node)."""
    return web.Response(status=307, headers={"Location": node_url + request.path_qs},
                        text=f"room {request.match_info['room']} is hosted by {node_url}")


def _created(request: web.Request, session: MediaSession, answer: str) -> web.Response:
    location = str(request.url.with_path(f"/{session.kind}/{session.room}/{session.id}").with_query(None))
    response = web.Response(status=201, text=answer, content_type=SDP, headers={"Location": location})
    _link_ice_servers(request, response, session.id)  # the WHIP/WHEP way (RFC 9725, section 4.6)
    return response
