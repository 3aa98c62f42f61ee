"""The signaling WebSocket: JSON messages between a browser (or a synthetic client) and the conference.

Client -> server: join {room, name, probe?, token?} (token, or /ws?token=, required when a join secret is set); publish {sdp}; subscribe {participant, sdp};
unsubscribe {participant}; background {background}; statistic {statistic}; media {microphone?, camera?}
(booleans: the page muted or unmuted them); leave. A binary message is the participant's own background
picture (JPEG, PNG or WebP, at most ``OWN_MAX_BYTES``: ``rtc.own_backgrounds``), used at once.
Server -> client (``joined`` is always the first event of a join): joined {id, name, room, participants,
backgrounds, ice_servers: the RTCIceServer
dictionaries to use, TURN with this participant's credentials}; publish-answer {sdp};
subscribe-answer {participant, sdp}; participant-joined {participant}; participant-left {id};
participant-media {id, name, microphone, camera, by: participant | moderator} (to the whole room, the
sender included); participant-speaking {id, speaking} (to the whole room, when a voice starts or stops:
``rtc.voice_activity``); recording {sources} (what of the room is being recorded: participant ids and/or
"scene"; also in joined as recording); own-background {background, width, height} (the participant's
own picture was taken: its key, for their picker; a background event follows); room-settings
{participants_set_mode, participants_set_background} (an admin changed the room: what its participants
may change now; also in joined);
redirect {room, url}: in a cluster, the room lives on the node at ``url`` (a base URL): join there,
at its /ws (the answer to a join, or, mid-call, after the room moved to another node: this node
stopped and handed it over, or was cut off from the cluster; the participant has left here); stats {streams}; error {error, detail, request}; left {reason?}: the answer to a leave, or, with a
reason, the server removed the participant ("publish_connection_failed" / "_closed": their media
connection ended; "removed": a moderator took them out), after which the same socket may join again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable

from aiohttp import WSCloseCode, WSMsgType, web
from redis import RedisError

from ..rtc.conference import Conference, SignalingError
from ..rtc.recordings import Recordings
from ..rtc.room_hosting import RoomElsewhere
from ..rtc.ice_servers import ice_servers_for
from ..rtc.own_backgrounds import OWN_MAX_BYTES
from ..rtc.participant import Participant
from .api_errors import store_unavailable
from .join_tokens import JoinRefused, verify_join_token
from .keys import CONFERENCE, RECORDINGS, SIGNALING_SOCKETS

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024
"""Largest JSON message; a larger one is refused (``too_large``)."""
MAX_FRAME_BYTES = 2 * OWN_MAX_BYTES
"""Largest message the socket reads at all (a larger one closes it, code 1009): a picture up to twice
the largest accepted one still gets a clear refusal."""


async def signaling_handler(request: web.Request) -> web.WebSocketResponse:
    """One participant's signaling session; leaving or disconnecting releases everything."""
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(request)
    conference = request.app[CONFERENCE]
    session = _Session(conference, request.app[RECORDINGS], ws, request.query.get("token"))
    sockets = request.app[SIGNALING_SOCKETS]
    sockets.add(ws)
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await session.handle(message.data)
            elif message.type == WSMsgType.BINARY:
                await session.handle_picture(message.data)
            elif message.type == WSMsgType.ERROR:
                break
    finally:
        sockets.discard(ws)
        await session.end()
    return ws


async def close_signaling_sockets(app: web.Application) -> None:
    """The server is stopping: close every signaling socket (clients reconnect, to another node in a
    cluster), so stopping does not wait for them."""
    await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")
                           for ws in set(app[SIGNALING_SOCKETS])), return_exceptions=True)


class _Session:
    def __init__(self, conference: Conference, recordings: Recordings, ws: web.WebSocketResponse,
                 url_token: str | None = None) -> None:
        self.conference, self.recordings, self.ws = conference, recordings, ws
        self.url_token = url_token  # a join token may also come as /ws?token=...
        self.participant: Participant | None = None
        self._held: list[dict] | None = None  # the room's events for a participant not yet told "joined"

    async def _participant_event(self, event: dict) -> None:
        # "joined" is a participant's first event: what the room says before it (stats, someone
        # speaking) waits for it.
        if self._held is not None:
            self._held.append(event)
        else:
            await self.send(event)

    async def send(self, event: dict) -> None:
        if not self.ws.closed:
            try:
                await self.ws.send_json(event)
            except ConnectionResetError:
                pass

    async def handle(self, text: str) -> None:
        if len(text) > MAX_MESSAGE_BYTES:
            await self.send({"type": "error", "error": "too_large",
                             "detail": f"messages are at most {MAX_MESSAGE_BYTES} bytes"})
            return
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            await self.send({"type": "error", "error": "bad_json", "detail": "messages must be JSON objects"})
            return
        kind = message.get("type") if isinstance(message, dict) else None
        await self._answering(kind, self._dispatch(kind, message))

    async def handle_picture(self, data: bytes) -> None:
        """A binary message: the participant's own background picture."""
        await self._answering("own-background", self._own_background(data))

    async def _own_background(self, data: bytes) -> None:
        await self.conference.set_own_background(self._joined(), data)

    async def _answering(self, kind: object, request: Awaitable[None]) -> None:
        """Run a request; what goes wrong is answered on the socket (``error``), and the session goes on."""
        try:
            await request
        except SignalingError as error:
            await self.send({"type": "error", "error": error.code, "detail": error.detail, "request": kind})
        except RedisError as error:  # a cluster's shared stores out of reach: nothing was changed
            await self.send({"type": "error", "error": "store_unavailable", "request": kind,
                             "detail": store_unavailable(error)})
        except Exception as error:  # a broken request must not end the session
            logger.exception("signaling %s failed", kind)
            await self.send({"type": "error", "error": "internal", "detail": str(error), "request": kind})

    def _joined(self) -> Participant:
        """The session's participant, else ``not_joined``."""
        participant = self._participant_now()
        if participant is None:
            raise SignalingError("not_joined", "join a room first")
        return participant

    def _participant_now(self) -> Participant | None:
        """The session's participant, None once the server removed them (their publish connection ended)."""
        if self.participant is not None and self.participant.id not in self.conference.participants:
            self.participant = None
        return self.participant

    async def _dispatch(self, kind: object, message: dict) -> None:
        conference = self.conference
        if kind == "join":
            if self._participant_now() is not None:
                raise SignalingError("already_joined", "leave before joining again")
            name = message.get("name")
            secret = conference.settings.join_secret
            if secret:
                try:
                    grant = verify_join_token(secret, message.get("token") or self.url_token, message.get("room"))
                except JoinRefused as refusal:
                    raise SignalingError(refusal.code, refusal.detail) from None
                name = name or grant.identity
            self._held = []
            try:
                await self._join(message, name)
            finally:
                held, self._held = self._held, None
            for event in held:
                await self.send(event)
            return
        if kind not in ("publish", "subscribe", "unsubscribe", "background", "statistic", "mode", "media", "leave"):
            raise SignalingError("unknown_type", f"unknown message type {kind!r}")
        participant = self._joined()
        if kind == "publish":
            await self.send({"type": "publish-answer", "sdp": await conference.publish(participant, message.get("sdp"))})
        elif kind == "subscribe":
            target = message.get("participant")
            sdp = await conference.subscribe(participant, target, message.get("sdp"))
            await self.send({"type": "subscribe-answer", "participant": target, "sdp": sdp})
        elif kind == "unsubscribe":
            await conference.unsubscribe(participant, message.get("participant"))
        elif kind == "background":
            await conference.set_background(participant, message.get("background"))
        elif kind == "statistic":
            conference.set_statistic(participant, message.get("statistic"))
        elif kind == "media":
            await conference.set_media(participant, message.get("microphone"), message.get("camera"))
        elif kind == "mode":
            await conference.set_mode(participant, message.get("mode"), message.get("layout"))
        elif kind == "leave":
            await self.end()
            await self.send({"type": "left"})

    async def _join(self, message: dict, name: object) -> None:
        conference = self.conference
        try:
            self.participant = await conference.join(message.get("room"), name, message.get("probe", False),
                                                     self._participant_event)
        except RoomElsewhere as elsewhere:
            await self.send({"type": "redirect", "room": message.get("room"), "url": elsewhere.url})
            return
        p = self.participant
        ice_servers = ice_servers_for(conference.settings.ice_servers, conference.settings.turn_secret, p.id,
                                      time.time())
        room_settings = conference.room_settings.get(p.room)
        await self.send({
            "type": "joined", "id": p.id, "name": p.name, "room": p.room,
            "ice_servers": [server.as_json() for server in ice_servers],
            "participants": [o.describe() for o in conference.members(p.room) if o.id != p.id],
            "backgrounds": [vars(b) for b in conference.backgrounds.list()],
            "background": conference.background_of(p),
            "mode": room_settings.mode, "layout": room_settings.layout, **room_settings.participant_rights(),
            "recording": self.recordings.sources(p.room),
        })

    async def end(self) -> None:
        if self.participant is not None:
            participant, self.participant = self.participant, None
            await self.conference.leave(participant)
