"""The conference service: joins, publishing, subscribing, leaving, live settings and stats.

Connections: each participant publishes on one peer connection (camera and microphone up, their own
composite down on the same video transceiver) and opens one receive-only connection per other
participant (that participant's composite and audio). Joins and leaves therefore never renegotiate
an existing connection; the client opens or closes one connection.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid

from aiortc import RTCPeerConnection

from ..imaging.quality import check_statistic
from ..pipeline.frame_processor import ProcessorSettings
from ..pipeline.messages import OpenStream
from ..pipeline.pool import WorkerPool
from ..settings import Settings
from ..storage.builtin_backgrounds import BackgroundCatalog
from .audio_fanout import AudioFanout
from .participant import EventSender, Participant
from .peers import answer, close_quietly, new_peer_connection, parse_offer, prefer_vp8
from .rooms import RoomDirectory

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[\w .@'-]{1,64}$", re.UNICODE)
_ROOM = re.compile(r"^[\w.-]{1,64}$")


class SignalingError(ValueError):
    """A request the conference refuses; ``code`` is sent to the client."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


class Conference:
    """All rooms of this node."""

    def __init__(self, settings: Settings, pool: WorkerPool, directory: RoomDirectory,
                 backgrounds: BackgroundCatalog) -> None:
        self.settings, self.pool, self.directory, self.backgrounds = settings, pool, directory, backgrounds
        self.participants: dict[str, Participant] = {}
        self._stats_task: asyncio.Task | None = None

    def start(self) -> None:
        """Begin pushing stats to clients once a second."""
        self._stats_task = asyncio.ensure_future(self._push_stats())

    async def close(self) -> None:
        """Everyone leaves; every connection closes."""
        if self._stats_task:
            self._stats_task.cancel()
        await asyncio.gather(*(self.leave(p) for p in list(self.participants.values())), return_exceptions=True)

    def members(self, room: str) -> list[Participant]:
        """Participants of ``room`` in join order."""
        state = self.directory.get(room)
        return [self.participants[i] for i in state.members if i in self.participants] if state else []

    async def join(self, room: object, name: object, probe: object, send_event: EventSender) -> Participant:
        """Admit a participant and tell the room."""
        if not isinstance(room, str) or not _ROOM.match(room):
            raise SignalingError("bad_room", "room must be 1-64 letters, digits, '.', '_' or '-'")
        if not isinstance(name, str) or not _NAME.match(name.strip()):
            raise SignalingError("bad_name", "name must be 1-64 characters: letters, digits, spaces, . @ ' -")
        if len(self.members(room)) >= self.settings.max_participants_per_room:
            raise SignalingError("room_full", f"room {room} already has {self.settings.max_participants_per_room} participants")
        participant = Participant(uuid.uuid4().hex[:12], name.strip(), room, bool(probe), send_event, self.pool)
        others = self.members(room)
        self.participants[participant.id] = participant
        self.directory.join(room, participant.id)
        await self._tell(others, {"type": "participant-joined", "participant": participant.describe()})
        return participant

    async def publish(self, participant: Participant, offer_sdp: object) -> str:
        """Accept the participant's camera/microphone offer; their composite comes back on it."""
        if participant.publish_pc is not None:
            raise SignalingError("already_publishing", "this participant already publishes")
        offer = self._offer(offer_sdp)
        pc = new_peer_connection()
        participant.publish_pc = pc

        @pc.on("track")
        def on_track(track) -> None:
            # Frames flow only once the connection is up, after the pool stream below is open.
            if track.kind == "video" and not participant.ingesting:
                participant.start_ingest(track)
            elif track.kind == "audio" and participant.audio is None:
                participant.audio = AudioFanout(track)

        self._watch(pc, participant)
        await pc.setRemoteDescription(offer)
        videos = [t for t in pc.getTransceivers() if t.kind == "video"]
        if not videos:
            raise SignalingError("no_video", "the offer has no video")
        prefer_vp8(videos[0])
        sender = pc.addTrack(participant.broadcast.subscribe())
        participant.broadcast.attach_sender(sender)
        room = self.directory.get(participant.room)
        key = participant.background_key or (room.background_key if room else None) or self.backgrounds.default_key
        statistic = (room.statistic if room else None) or self.settings.statistic
        self.pool.open_stream(OpenStream(
            participant.stream_id, "vp8", key, self.backgrounds.image(key),
            ProcessorSettings(statistic=statistic, method=self.settings.degradation),
            self.settings.output_bitrate, participant.probe), participant.on_result)
        participant.stream_open = True
        return await answer(pc)

    async def subscribe(self, viewer: Participant, publisher_id: object, offer_sdp: object) -> str:
        """Answer a receive-only offer with another participant's composite and audio."""
        publisher = self.participants.get(publisher_id) if isinstance(publisher_id, str) else None
        if publisher is None or publisher.room != viewer.room:
            raise SignalingError("unknown_participant", f"no participant {publisher_id!r} in room {viewer.room}")
        if publisher_id in viewer.viewer_pcs:
            await self.unsubscribe(viewer, publisher_id)
        offer = self._offer(offer_sdp)
        pc = new_peer_connection()
        viewer.viewer_pcs[publisher.id] = pc
        await pc.setRemoteDescription(offer)
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video":
                prefer_vp8(transceiver)
        sender = pc.addTrack(publisher.broadcast.subscribe())
        publisher.broadcast.attach_sender(sender)
        if publisher.audio is not None and any(t.kind == "audio" for t in pc.getTransceivers()):
            pc.addTrack(publisher.audio.subscribe())
        return await answer(pc)

    async def unsubscribe(self, viewer: Participant, publisher_id: object) -> None:
        """Close the viewer's connection watching ``publisher_id``."""
        pc = viewer.viewer_pcs.pop(publisher_id, None) if isinstance(publisher_id, str) else None
        if pc is not None:
            await _close_viewer_pc(pc)

    async def leave(self, participant: Participant) -> None:
        """Remove a participant, release all they hold, and tell the room."""
        if self.participants.pop(participant.id, None) is None:
            return
        self.directory.leave(participant.room, participant.id)
        others = self.members(participant.room)
        for other in others:
            pc = other.viewer_pcs.pop(participant.id, None)
            if pc is not None:
                await _close_viewer_pc(pc)
        for pc in list(participant.viewer_pcs.values()):
            await _close_viewer_pc(pc)
        participant.viewer_pcs.clear()
        await participant.close()
        await self._tell(others, {"type": "participant-left", "id": participant.id})

    def set_background(self, participant: Participant, key: object) -> None:
        """Switch a participant's own background."""
        if not isinstance(key, str) or not self.backgrounds.has(key):
            raise SignalingError("unknown_background", f"no background {key!r}")
        participant.background_key = key
        if participant.stream_open:
            self.pool.set_background(participant.stream_id, key, self.backgrounds.image(key))

    def set_statistic(self, participant: Participant, statistic: object) -> None:
        """Switch the statistic for a participant's stream."""
        try:
            check_statistic(statistic)
        except ValueError as error:
            raise SignalingError("bad_statistic", str(error)) from None
        if participant.stream_open:
            self.pool.set_statistic(participant.stream_id, statistic)  # type: ignore[arg-type]

    def room_stats(self, room: str) -> dict:
        """Per-participant stream figures of a room."""
        return {p.id: {"name": p.name, **p.stats.as_dict(), "frames_dropped": self.pool.dropped(p.stream_id),
                       "viewers": p.broadcast.viewers, "keyframe_requests": p.broadcast.keyframe_requests}
                for p in self.members(room)}

    def _offer(self, sdp: object):
        try:
            return parse_offer(sdp)
        except ValueError as error:
            raise SignalingError("bad_offer", str(error)) from None

    def _watch(self, pc: RTCPeerConnection, participant: Participant) -> None:
        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and participant.id in self.participants:
                logger.info("participant %s: publish connection %s", participant.id, pc.connectionState)
                await self.leave(participant)

    async def _tell(self, participants: list[Participant], event: dict) -> None:
        await asyncio.gather(*(p.send_event(event) for p in participants), return_exceptions=True)

    async def _push_stats(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for state in self.directory.rooms():
                members = self.members(state.name)
                if members:
                    await self._tell(members, {"type": "stats", "streams": self.room_stats(state.name)})


async def _close_viewer_pc(pc: RTCPeerConnection) -> None:
    for sender in pc.getSenders():
        if sender.track is not None:
            sender.track.stop()
    await close_quietly(pc)
