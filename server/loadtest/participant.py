"""A synthetic participant: joins over the signaling WebSocket, publishes a video track, watches
its own composite and the other participants' composites, and records what arrives."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import av
import cv2
import numpy as np
from aiortc import (
    MediaStreamTrack, RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.mediastreams import MediaStreamError

from ..pipeline.output_encoder import VIDEO_CLOCK
from ..rtc.peers import close_quietly

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 3
"""Cluster redirects followed while joining (one is the norm: the node asked sends to the room's node)."""


class FrameSourceTrack(MediaStreamTrack):
    """Video from a function of the frame index (BGR arrays), paced at ``fps``."""

    kind = "video"

    def __init__(self, make_frame: Callable[[int], np.ndarray], fps: int = 30) -> None:
        super().__init__()
        self._make_frame, self._fps = make_frame, fps
        self._index = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._index / self._fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        image = self._make_frame(self._index)
        frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
        frame.pts = int(self._index * 90_000 / self._fps)
        frame.time_base = VIDEO_CLOCK
        self._index += 1
        return frame


class RefusedJoin(RuntimeError):
    """The server refused the join: its error ``code`` (``server_full``, ``room_full``, a bad token...)
    and ``detail``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


@dataclass
class ReceivedStream:
    """Frames received from one composite stream."""

    frames: int = 0
    first_at: float | None = None
    last_image: np.ndarray | None = None
    arrivals: deque = field(default_factory=lambda: deque(maxlen=3000))


class SyntheticParticipant:
    """One participant driven from Python."""

    def __init__(self, url: str, room: str, name: str, source: MediaStreamTrack | None, probe: bool = False,
                 watch_others: bool = True, keep_images: bool = True, audio: MediaStreamTrack | None = None,
                 token: str | None = None,
                 on_frame: Callable[[str, av.VideoFrame, float], None] | None = None, relay_only: bool = False) -> None:
        self.url, self.room, self.name, self.source, self.probe = url.rstrip("/"), room, name, source, probe
        self.token = token
        self.relay_only = relay_only  # connect only through the TURN servers the join gives, as a client behind a strict firewall
        self.ice_servers: list[dict] = []  # as the join gave them
        self.on_frame = on_frame  # (stream label, decoded frame, arrival time) for every video frame
        self.background: str | None = None  # the background the server says this participant's composite uses
        self.backgrounds: list[dict] = []  # the backgrounds the picker offers, as the server last listed them
        self.audio = audio
        self.watch_others, self.keep_images = watch_others, keep_images
        self.id: str | None = None
        self.others: dict[str, str] = {}
        self.received: dict[str, ReceivedStream] = {}  # "self" or a participant's name
        self.audio_frames: dict[str, int] = {}  # a participant's name -> audio frames received
        self.audio_peaks: dict[str, deque] = {}  # a participant's name -> peak |sample| of recent audio frames
        self.errors: list[dict] = []
        self.stats: dict = {}
        self.scene: dict | None = None  # the room's shared scene (the latest "scene" event), if any
        self.scene_figures: dict = {}  # the scene's live figures from the latest stats
        self.joined_at: float | None = None
        self.node_url: str | None = None  # the node the join ended on (another than url after a redirect)
        self.moves = 0  # times the room moved to another node mid-call and this participant followed
        self.removed: str | None = None  # the reason the server gave if it removed this participant
        self.media: dict[str, dict] = {}  # participant id -> {"microphone", "camera": on (True) or off, "by"}
        self.speaking: list[tuple[float, str, bool]] = []  # (when, participant id, speaking) as the server said
        self.recording: list[str] = []  # what of the room is being recorded (participant ids, "scene")
        self.own_background: str | None = None  # the key of the own picture the server last took
        self.rights: dict[str, bool] = {}  # what the room lets its participants change (joined, room-settings)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pcs: dict[str, RTCPeerConnection] = {}
        self._answers: dict[str, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []
        self._reader: asyncio.Task | None = None

    async def join(self, timeout: float = 20.0) -> None:
        """Join the room and start publishing (if there is a source). In a cluster, a node that does not
        host the room redirects the join to the one that does (``node_url`` then names it), and a
        room that moves to another node mid-call is followed there (``moves`` counts it)."""
        self._session = aiohttp.ClientSession()
        started = time.monotonic()
        await self._join_at(self.url, timeout)
        self.joined_at = time.monotonic() - started
        await self._start_media()

    async def _join_at(self, node: str, timeout: float) -> None:
        join: dict[str, object] = {"type": "join", "room": self.room, "probe": self.probe}
        if self.name:
            join["name"] = self.name
        if self.token is not None:
            join["token"] = self.token
        assert self._session is not None
        for _ in range(MAX_REDIRECTS + 1):
            self._ws = await self._session.ws_connect(f"{node}/ws")
            self._reader = asyncio.ensure_future(self._read())
            self._answers["join"] = asyncio.get_running_loop().create_future()
            await self._ws.send_json(join)
            redirect = await asyncio.wait_for(self._answers["join"], timeout)
            if not redirect:
                break
            self._reader.cancel()
            await self._ws.close()
            node = redirect.rstrip("/")
        else:
            raise RuntimeError(f"more than {MAX_REDIRECTS} redirects joining room {self.room}")
        self.node_url = node

    async def _start_media(self) -> None:
        if self.source is not None:
            await self._publish()
        if self.watch_others:
            for participant_id, name in list(self.others.items()):
                await self.subscribe(participant_id, name)

    async def _move(self, url: str) -> None:
        """The room moved to another node mid-call: drop this node's connections and join there (the
        streams received keep counting under the same names). ``moves`` counts it once joined there."""
        connections = list(self._pcs.values())
        self._pcs.clear()
        await asyncio.gather(*(close_quietly(pc) for pc in connections))
        if self._ws is not None:
            await self._ws.close()
        try:
            await self._join_at(url.rstrip("/"), 20.0)
            self.moves += 1
            await self._start_media()
        except (aiohttp.ClientError, RuntimeError, TimeoutError) as error:
            logger.warning("%s could not follow room %s to %s: %s", self.name, self.room, url, error)
            self.errors.append({"type": "error", "error": "move_failed", "detail": str(error)})

    async def subscribe(self, participant_id: str, name: str) -> None:
        """Watch another participant's composite (once: a participant who joins while this one joins
        is both in the join's list and announced, and two offers would cross their answers)."""
        if participant_id in self._pcs:
            return
        pc = self._peer_connection()
        self._pcs[participant_id] = pc
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        pc.on("track", lambda track: self._consume(track, name))
        await pc.setLocalDescription(await pc.createOffer())
        answer = await self._request(participant_id, {"type": "subscribe", "participant": participant_id,
                                                      "sdp": pc.localDescription.sdp})
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def leave(self) -> None:
        """Leave and close everything."""
        if self._ws is not None and not self._ws.closed:
            try:
                await self._ws.send_json({"type": "leave"})
            except ConnectionError:
                pass
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*(close_quietly(pc) for pc in self._pcs.values()))
        self._pcs.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
        if self._session is not None:
            await self._session.close()

    async def send(self, message: dict) -> None:
        """Send a raw signaling message."""
        assert self._ws is not None
        await self._ws.send_json(message)

    async def send_picture(self, data: bytes) -> None:
        """Send the bytes of an image as this participant's own background (a binary message); the
        server answers ``own-background`` (then ``background``), or an error."""
        assert self._ws is not None
        await self._ws.send_bytes(data)

    async def bytes_received(self) -> dict[str, int]:
        """Bytes received so far (DTLS transport, all media) per connection label ("self" or a name)."""
        received = {}
        for key, pc in list(self._pcs.items()):
            label = "self" if key == "self" else self.others.get(key, key)
            report = await pc.getStats()
            received[label] = sum(getattr(s, "bytesReceived", 0) for s in report.values() if s.type == "transport")
        return received

    async def wait_for_frames(self, stream: str, count: int, timeout: float = 30.0) -> ReceivedStream:
        """Wait until ``count`` frames of ``stream`` ("self" or a name) have arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = self.received.get(stream)
            if received and received.frames >= count:
                return received
            await asyncio.sleep(0.05)
        got = self.received.get(stream)
        raise TimeoutError(f"{self.name}: {got.frames if got else 0}/{count} frames of {stream} in {timeout}s")

    def _peer_connection(self) -> RTCPeerConnection:
        """A connection using the ICE servers the join gave (only their relays with ``relay_only``)."""
        servers = [RTCIceServer(s["urls"], s.get("username"), s.get("credential")) for s in self.ice_servers]
        policy = RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
        return RTCPeerConnection(RTCConfiguration(iceServers=servers, iceTransportPolicy=policy))

    async def _publish(self) -> None:
        pc = self._peer_connection()
        self._pcs["self"] = pc
        pc.addTransceiver(self.source, direction="sendrecv")
        if self.audio is not None:
            pc.addTransceiver(self.audio, direction="sendonly")
        pc.on("track", lambda track: self._consume(track, "self") if track.kind == "video" else None)
        await pc.setLocalDescription(await pc.createOffer())
        answer = await self._request("self", {"type": "publish", "sdp": pc.localDescription.sdp})
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def _request(self, key: str, message: dict) -> str:
        future = asyncio.get_running_loop().create_future()
        self._answers[key] = future
        await self.send(message)
        return await asyncio.wait_for(future, 20.0)

    def _consume(self, track: MediaStreamTrack, label: str) -> None:
        if track.kind != "video":
            self._tasks.append(asyncio.ensure_future(self._drain(track, label)))
            return
        stream = self.received.setdefault(label, ReceivedStream())

        async def run() -> None:
            try:
                while True:
                    frame = await track.recv()
                    now = time.monotonic()
                    stream.frames += 1
                    stream.arrivals.append(now)
                    if stream.first_at is None:
                        stream.first_at = now
                    if self.keep_images:
                        stream.last_image = frame.to_ndarray(format="bgr24")
                    if self.on_frame is not None:
                        self.on_frame(label, frame, now)
            except MediaStreamError:
                pass

        self._tasks.append(asyncio.ensure_future(run()))

    async def _drain(self, track: MediaStreamTrack, label: str) -> None:
        try:
            while True:
                frame = await track.recv()
                self.audio_frames[label] = self.audio_frames.get(label, 0) + 1
                peaks = self.audio_peaks.setdefault(label, deque(maxlen=25))
                peaks.append(int(np.abs(frame.to_ndarray().astype(np.int32)).max()))
        except MediaStreamError:
            pass

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            event = message.json()
            kind = event.get("type")
            if kind == "joined":
                self.id = event["id"]
                self.ice_servers = event.get("ice_servers", [])
                self.others = {p["id"]: p["name"] for p in event["participants"]}
                self.background = event.get("background")
                self.backgrounds = event.get("backgrounds", [])
                self.recording = event.get("recording", [])
                self.rights = _rights(event)
                self._resolve("join", "")
            elif kind == "redirect":
                if "join" in self._answers:
                    self._resolve("join", event["url"])
                else:  # mid-call: the room moved to another node
                    self._tasks.append(asyncio.ensure_future(self._move(event["url"])))
            elif kind == "background":
                self.background = event["background"]
            elif kind == "own-background":
                self.own_background = event["background"]
            elif kind == "room-settings":
                self.rights = _rights(event)
            elif kind == "backgrounds":
                self.backgrounds = event["backgrounds"]
            elif kind == "publish-answer":
                self._resolve("self", event["sdp"])
            elif kind == "subscribe-answer":
                self._resolve(event["participant"], event["sdp"])
            elif kind == "participant-joined":
                participant = event["participant"]
                self.others[participant["id"]] = participant["name"]
                if self.watch_others:
                    self._tasks.append(asyncio.ensure_future(self.subscribe(participant["id"], participant["name"])))
            elif kind == "participant-left":
                self.others.pop(event["id"], None)
                pc = self._pcs.pop(event["id"], None)
                if pc is not None:
                    self._tasks.append(asyncio.ensure_future(close_quietly(pc)))
            elif kind == "participant-media":
                self.media[event["id"]] = {key: event[key] for key in ("microphone", "camera", "by")}
            elif kind == "recording":
                self.recording = event["sources"]
            elif kind == "participant-speaking":
                self.speaking.append((time.monotonic(), event["id"], event["speaking"]))
            elif kind == "left" and event.get("reason"):
                self.removed = event["reason"]
            elif kind == "stats":
                self.stats = event["streams"]
                if "scene" in event:
                    self.scene_figures = event["scene"]
            elif kind == "scene":
                self.scene = event
            elif kind == "error":
                self.errors.append(event)
                future = self._answers.get({"publish": "self", "join": "join"}.get(event.get("request"), ""))
                if future and not future.done():
                    detail = str(event.get("detail"))
                    future.set_exception(RefusedJoin(str(event.get("error")), detail) if event.get("request") == "join"
                                         else RuntimeError(detail))

    def _resolve(self, key: str, sdp: str) -> None:
        future = self._answers.pop(key, None)
        if future and not future.done():
            future.set_result(sdp)


def _rights(event: dict) -> dict[str, bool]:
    """What a room lets its participants change, from ``joined`` or ``room-settings``."""
    return {key: value for key, value in event.items() if key.startswith("participants_set_")}
