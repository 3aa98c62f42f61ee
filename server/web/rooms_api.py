"""``/api/rooms``: assign a room's background, statistic, probing and shared-scene mode (applied live),
and watch the active rooms of every node; ``/api/nodes``: the nodes hosting them (listed, and this one drained)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace

from aiohttp import web

from ..imaging.quality import check_statistic
from ..imaging.scene_layout import LAYOUTS, MAX_SEATS, SCENE_STATISTICS, SeatSpec
from ..rtc.room_figures import admin_view
from ..rtc.rooms import ROOM_NAME_RULE, is_room_name
from ..storage.room_settings import MODES, RoomSettings
from .admin_auth import require_admin
from .api_errors import ApiError
from .cluster_view import cluster_rooms, other_views, this_view
from .keys import CONFERENCE

ROOM_FIELDS = ("background_id", "statistic", "latency_probe", "mode", "layout", "seats", "scene_statistic",
               "participants_set_mode", "participants_set_background")


def add_routes(app: web.Application) -> None:
    """Register the room routes on the API sub-application."""
    app.router.add_put("/rooms/{room}", put_room)
    app.router.add_get("/rooms", list_rooms)
    app.router.add_get("/nodes", list_nodes)
    app.router.add_put("/nodes/{node}", put_node)


async def put_room(request: web.Request) -> web.Response:
    """Set a room's settings; a field left out keeps its value, null resets background and statistic."""
    require_admin(request)
    room = room_in_path(request)
    body = await json_object(request)
    unknown = sorted(set(body) - set(ROOM_FIELDS))
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown fields {unknown}; accepted: {list(ROOM_FIELDS)}")
    conference = request.config_dict[CONFERENCE]
    await refuse_room_elsewhere(request, room)
    settings = await conference.change_room(room, lambda current: _changed(body, current, conference.backgrounds.has))
    return web.json_response(_describe(room, settings, len(conference.members(room))))


def _changed(body: dict, settings: RoomSettings, has_background: Callable[[str], bool]) -> RoomSettings:
    """A room's settings with a PUT body's fields applied, each checked (``ApiError`` 400)."""
    if "background_id" in body:
        background_id = body["background_id"]
        if background_id is not None and (not isinstance(background_id, str)
                                          or not has_background(background_id)):
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
    for name in ("participants_set_mode", "participants_set_background"):  # what participants may change
        if name in body:
            if not isinstance(body[name], bool):
                raise ApiError(400, f"bad_{name}", f"{name} must be true or false")
            settings = replace(settings, **{name: body[name]})
    return _scene_fields(body, settings)


async def list_rooms(request: web.Request) -> web.Response:
    """Active rooms of the whole cluster, their participants and each stream's live quality, each room
    with the node hosting it (``node``, ``node_url``, ``this``). This node's rooms are live, the
    others' as their nodes last published them (up to a heartbeat old); with Redis out of reach,
    this node's rooms alone."""
    require_admin(request)
    conference = request.config_dict[CONFERENCE]
    here = this_view(conference, rooms=admin_view(conference))
    return web.json_response(cluster_rooms(here, await other_views(conference)))


async def list_nodes(request: web.Request) -> web.Response:
    """The cluster's live nodes (this one alone without a cluster); 503 if Redis is out of reach."""
    require_admin(request)
    placement = request.config_dict[CONFERENCE].hosting.placement
    nodes = await placement.nodes()
    return web.json_response([{**asdict(node), "this": node.id == placement.node_id} for node in nodes])


async def put_node(request: web.Request) -> web.Response:
    """Drain this node (``{"draining": true}``: it takes no new rooms, its rooms go on) or let it take
    new rooms again. ``{node}`` is this node's id or ``this``; another node's must be asked of it."""
    require_admin(request)
    placement = request.config_dict[CONFERENCE].hosting.placement
    node_id = request.match_info["node"]
    body = await json_object(request)
    if set(body) != {"draining"} or not isinstance(body["draining"], bool):
        raise ApiError(400, "bad_node", 'give {"draining": true} or {"draining": false}')
    if node_id not in ("this", placement.node_id):
        other = next((node for node in await placement.nodes() if node.id == node_id), None)
        if other is None:
            raise ApiError(404, "unknown_node", f"no live node {node_id!r}")
        raise ApiError(409, "node_elsewhere", f"node {node_id} must be asked itself: {other.url}/api/nodes/{node_id}")
    await placement.set_draining(body["draining"])
    this = next(node for node in await placement.nodes() if node.id == placement.node_id)
    return web.json_response({**asdict(this), "this": True})


async def refuse_room_elsewhere(request: web.Request, room: str) -> None:
    """409 ``room_elsewhere`` when another node of the cluster hosts ``room`` live: what is asked of
    the room must be asked of that node (named in the detail); 503 if Redis is out of reach."""
    elsewhere = await request.config_dict[CONFERENCE].hosting.host_elsewhere(room)
    if elsewhere is not None:
        raise ApiError(409, "room_elsewhere",
                       f"room {room} is hosted by the node at {elsewhere}: send this request there "
                       f"({elsewhere}{request.path_qs})")


def _scene_fields(body: dict, settings: RoomSettings) -> RoomSettings:
    """Apply and check the shared-scene fields of a PUT body."""
    if "mode" in body:
        if body["mode"] not in MODES:
            raise ApiError(400, "bad_mode", f"mode must be one of {list(MODES)}")
        settings = replace(settings, mode=body["mode"])
    if "layout" in body:
        if body["layout"] not in LAYOUTS:
            raise ApiError(400, "bad_layout", f"layout must be one of {list(LAYOUTS)}")
        settings = replace(settings, layout=body["layout"])
    if "seats" in body:
        settings = replace(settings, seats=_seats(body["seats"]))
    if "scene_statistic" in body:
        if body["scene_statistic"] not in SCENE_STATISTICS:
            raise ApiError(400, "bad_scene_statistic", f"scene_statistic must be one of {list(SCENE_STATISTICS)}")
        settings = replace(settings, scene_statistic=body["scene_statistic"])
    if settings.layout == "seats" and not settings.seats:
        raise ApiError(400, "seats_required", "the seats layout needs seats: [{x, y, width, height}, ...]")
    return settings


def _seats(value: object) -> tuple[SeatSpec, ...] | None:
    if value is None:
        return None
    rule = (f"seats must be a list of 1-{MAX_SEATS} objects {{x, y, width, height}}, fractions of the scene "
            "(0..1) lying inside it")
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SEATS:
        raise ApiError(400, "bad_seats", rule)
    seats = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"x", "y", "width", "height"} or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in item.values()):
            raise ApiError(400, "bad_seats", rule)
        try:
            seats.append(SeatSpec(float(item["x"]), float(item["y"]), float(item["width"]), float(item["height"])))
        except ValueError:
            raise ApiError(400, "bad_seats", rule) from None
    return tuple(seats)


def _describe(room: str, settings: RoomSettings, participants: int) -> dict:
    return {"room": room, "background_id": settings.background_id, "statistic": settings.statistic,
            "latency_probe": settings.latency_probe, "mode": settings.mode, "layout": settings.layout,
            "seats": None if settings.seats is None else [vars(seat) for seat in settings.seats],
            "scene_statistic": settings.scene_statistic, "participants_set_mode": settings.participants_set_mode,
            "participants_set_background": settings.participants_set_background, "participants": participants}


def room_in_path(request: web.Request) -> str:
    """The route's ``{room}``, else a 400 ``bad_room``."""
    room = request.match_info["room"]
    if not is_room_name(room):
        raise ApiError(400, "bad_room", ROOM_NAME_RULE)
    return room


async def json_object(request: web.Request) -> dict:
    """The request's body as a JSON object, else a 400 ``bad_json``."""
    try:
        body = json.loads(await request.text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "bad_json", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return body
