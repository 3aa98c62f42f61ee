"""The conference service: joins, publishing, subscribing, leaving, live settings (the stats pushed to
rooms and their figures: `room_figures`; the receive-only connections: `viewer_connections`).

Connections: each participant publishes on one peer connection (camera and microphone up, their own
composite down on the same video transceiver) and opens one receive-only connection per other
participant (that participant's composite and audio). Joins and leaves therefore never renegotiate
an existing connection; the client opens or closes one connection.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from aiortc import RTCPeerConnection

from ..imaging.quality import check_statistic
from ..pipeline.frame_processor import ProcessorSettings
from ..pipeline.messages import OpenStream
from ..pipeline.pool import WorkerPool
from ..settings import Settings
from ..storage.catalog import BackgroundCatalog
from ..storage.image_intake import ImageRejected
from ..imaging.scene_layout import LAYOUTS
from ..storage.room_settings import MODES, RoomSettings, RoomSettingsStore
from .participant import EventSender, Participant, StreamObserver
from .peers import answer, new_peer_connection, offered_codecs, offered_direction, prefer_codecs
from .room_figures import push_stats
from .room_hosting import RoomHosting
from .room_placement import LocalPlacement, RoomPlacement
from .room_settings_changes import RoomSettingsChanges
from .signaling_error import SignalingError
from .rooms import ROOM_NAME_RULE, RoomDirectory, is_room_name
from .scene import RoomScene
from .scene_rooms import SceneRooms
from .own_backgrounds import OWN_PICTURES_PER_MINUTE, decode_own_background
from .viewer_connections import apply_offer, client_offer, close_viewer, open_viewer

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[\w .@'-]{1,64}$", re.UNICODE)


class Conference:
    """All rooms of this node."""

    def __init__(self, settings: Settings, pool: WorkerPool, directory: RoomDirectory,
                 backgrounds: BackgroundCatalog, room_settings: RoomSettingsStore,
                 observer: StreamObserver | None = None, placement: RoomPlacement | None = None) -> None:
        self.settings, self.pool, self.directory, self.backgrounds = settings, pool, directory, backgrounds
        self.room_settings = room_settings  # read from memory; changed through settings_changes
        self.settings_changes = RoomSettingsChanges(room_settings)
        self.hosting = RoomHosting(placement or LocalPlacement(settings.max_participants), self.settings_changes,
                                   self.members, self.leave, self.hosted_rooms)
        self.observer = observer
        self.participants: dict[str, Participant] = {}
        self.scene_rooms = SceneRooms(settings, pool, room_settings, backgrounds, self.members, self._tell)
        self.scenes = self.scene_rooms.scenes  # room -> its shared scene, while in scene mode
        self._stats_task: asyncio.Task | None = None
        self._telling: set[asyncio.Task] = set()  # room events sent from callbacks, kept until sent

    def start(self) -> None:
        """Begin pushing stats to clients once a second."""
        self._stats_task = asyncio.ensure_future(push_stats(self))

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
        if not is_room_name(room):
            raise SignalingError("bad_room", ROOM_NAME_RULE)
        if not isinstance(name, str) or not _NAME.match(name.strip()):
            raise SignalingError("bad_name", "name must be 1-64 characters: letters, digits, spaces, . @ ' -")
        await self.hosting.admit(room)
        if len(self.members(room)) >= self.settings.max_participants_per_room:
            raise SignalingError("room_full", f"room {room} already has {self.settings.max_participants_per_room} participants")
        participant = Participant(uuid.uuid4().hex[:12], name.strip(), room, bool(probe), send_event, self.pool,
                                  self.observer)
        participant.audio.on_speaking = lambda speaking: self._speaking_changed(participant, speaking)
        others = self.members(room)
        self.participants[participant.id] = participant
        self.directory.join(room, participant.id)
        await self._tell(others, {"type": "participant-joined", "participant": participant.describe()})
        return participant

    async def publish(self, participant: Participant, offer_sdp: object, accept_h264: bool = False,
                      on_offer_set: Callable[[RTCPeerConnection], None] | None = None) -> str:
        """Accept the participant's camera/microphone offer. Their composite comes back on the same
        video transceiver when the offer can receive (a browser's sendrecv; not a WHIP sendonly offer).
        ``accept_h264``: take H.264 as well as VP8 (WHIP publishers); browsers are held to VP8.
        ``on_offer_set``: adjusts the connection once the offer is applied, before it connects."""
        if participant.publish_pc is not None:
            raise SignalingError("already_publishing", "this participant already publishes")
        offer = client_offer(offer_sdp)
        pc = new_peer_connection()
        participant.publish_pc = pc

        @pc.on("track")
        def on_track(track) -> None:
            # Frames flow only once the connection is up, after the pool stream below is open.
            if track.kind == "video" and not participant.ingesting:
                participant.start_ingest(track)
            elif track.kind == "audio":
                participant.audio.attach(track)

        self._watch(pc, participant)
        await apply_offer(pc, offer)
        if on_offer_set is not None:
            on_offer_set(pc)
        videos = [t for t in pc.getTransceivers() if t.kind == "video"]
        if not videos:
            raise SignalingError("no_video", "the offer has no video")
        accepted = ("vp8", "h264") if accept_h264 else ("vp8",)
        prefer_codecs(videos[0], accepted)
        # The sender uses the first codec of the answer, which follows our preference order.
        offered = offered_codecs(offer.sdp, videos[0].mid)
        participant.codec = next((c for c in accepted if c in offered), accepted[0])
        if offered_direction(offer.sdp, videos[0].mid) in ("sendrecv", "recvonly"):
            participant.return_track = participant.broadcast.subscribe()
            participant.return_sender = pc.addTrack(participant.return_track)
            participant.broadcast.attach_sender(participant.return_sender)
        key = self.background_of(participant)
        background = await asyncio.to_thread(self._background_image, participant, key)
        if participant.id not in self.participants:
            raise SignalingError("left", "the participant left while publishing")
        self.pool.open_stream(OpenStream(
            participant.stream_id, participant.codec, key, background,
            ProcessorSettings(statistic=self.statistic_of(participant), method=self.settings.degradation),
            self.settings.output_bitrate, self.probes(participant)), participant.on_result)
        participant.stream_open = True
        participant.applied_background = key
        await self.sync_scene(participant.room)
        return await answer(pc, self.settings.public_addresses)

    async def subscribe(self, viewer: Participant, publisher_id: object, offer_sdp: object) -> str:
        """Answer a receive-only offer with another participant's composite and audio, or their audio
        alone for an audio-only offer (``"scene"``: the room's shared scene, for a participant who
        does not publish)."""
        if publisher_id == "scene":
            await self.unsubscribe(viewer, "scene")
            pc, answer_sdp = await self.watch_scene(viewer.room, offer_sdp)
            viewer.viewer_pcs["scene"] = pc
            return answer_sdp
        publisher = self.participants.get(publisher_id) if isinstance(publisher_id, str) else None
        if publisher is None or publisher.room != viewer.room:
            raise SignalingError("unknown_participant", f"no participant {publisher_id!r} in room {viewer.room}")
        if publisher_id in viewer.viewer_pcs:
            await self.unsubscribe(viewer, publisher_id)
        pc, answer_sdp = await self.watch(publisher, offer_sdp)
        viewer.viewer_pcs[publisher.id] = pc
        return answer_sdp

    async def watch(self, publisher: Participant, offer_sdp: object) -> tuple[RTCPeerConnection, str]:
        """A new connection playing ``publisher``'s composite (the packets every viewer gets) and audio,
        answering a receive-only offer; the caller owns the connection."""
        return await open_viewer(publisher.broadcast, publisher.audio, offer_sdp, self.settings.public_addresses)

    async def watch_scene(self, room: str, offer_sdp: object) -> tuple[RTCPeerConnection, str]:
        """A new connection playing ``room``'s shared scene, and the room's voices mixed when the offer
        takes audio (a WHEP audience; a member's page asks for video only); the caller owns it."""
        scene = self.scenes.get(room)
        if scene is None:
            raise SignalingError("not_scene_mode", f"room {room} is not in scene mode")
        return await open_viewer(scene.broadcast, scene.audio, offer_sdp, self.settings.public_addresses)

    def hosted_rooms(self) -> dict[str, int]:
        """The rooms this node hosts, with their member counts."""
        return {state.name: len(state.members) for state in self.directory.rooms()}

    def find(self, room: str, participant: str) -> Participant | None:
        """A member of ``room`` by id, else by name (the earliest joined of that name)."""
        members = self.members(room)
        return next((p for p in members if p.id == participant), None) or next(
            (p for p in members if p.name == participant), None)

    async def unsubscribe(self, viewer: Participant, publisher_id: object) -> None:
        """Close the viewer's connection watching ``publisher_id``."""
        pc = viewer.viewer_pcs.pop(publisher_id, None) if isinstance(publisher_id, str) else None
        if pc is not None:
            await close_viewer(pc)

    async def leave(self, participant: Participant) -> None:
        """Remove a participant, release all they hold, and tell the room."""
        if self.participants.pop(participant.id, None) is None:
            return
        self.directory.leave(participant.room, participant.id)
        others = self.members(participant.room)
        for other in others:
            pc = other.viewer_pcs.pop(participant.id, None)
            if pc is not None:
                await close_viewer(pc)
        for pc in list(participant.viewer_pcs.values()):
            await close_viewer(pc)
        participant.viewer_pcs.clear()
        participant.scene_sink = None
        await participant.close()
        await self._tell(others, {"type": "participant-left", "id": participant.id})
        await self.sync_scene(participant.room)
        if self.directory.get(participant.room) is None:
            await self.hosting.emptied(participant.room)

    async def remove(self, participant: Participant, reason: str) -> None:
        """``leave`` on the server's initiative: the participant's signaling session outlives it and is
        told why (``left {reason}``), and may join again."""
        await self.leave(participant)
        await participant.send_event({"type": "left", "reason": reason})

    def background_of(self, participant: Participant) -> str:
        """The background a participant's composite uses: their choice (where the room lets them choose),
        else the room's, else the default."""
        settings = self.room_settings.get(participant.room)
        chosen = participant.background_key if settings.participants_set_background else None
        return chosen or settings.background_id or self.backgrounds.default_key

    def probes(self, participant: Participant) -> bool:
        """Whether the participant's frames keep their frame-code corner (they or their room probe)."""
        return participant.probe or self.room_settings.get(participant.room).latency_probe

    def statistic_of(self, participant: Participant) -> str:
        """The statistic of a participant's stream: their choice, else the room's, else the server's."""
        return participant.statistic or self.room_settings.get(participant.room).statistic or self.settings.statistic

    async def set_background(self, participant: Participant, key: object) -> None:
        """Switch a participant's own background (one of everyone's, or their own picture), where the
        room lets them."""
        self._may_set_background(participant)
        if not isinstance(key, str) or not (self.backgrounds.has(key) or participant.own_pictures.has(key)):
            raise SignalingError("unknown_background", f"no background {key!r}")
        participant.background_key = key
        await self._apply_background(participant)

    async def set_own_background(self, participant: Participant, data: bytes) -> None:
        """Make the picture in ``data`` (sent by the participant's page) their own background, for their
        session only (``own_backgrounds``); their page is told its key (``own-background``). A picture
        that cannot be used is a ``SignalingError`` saying why (``not_an_image``, ``too_large``...)."""
        self._may_set_background(participant)
        key = participant.own_pictures.next_key(time.monotonic())
        if key is None:
            raise SignalingError("too_many_pictures", f"at most {OWN_PICTURES_PER_MINUTE} pictures a minute: "
                                                      "try again shortly")
        # One picture at a time per participant: their signaling session handles its messages in order.
        try:
            own = await asyncio.to_thread(decode_own_background, data, key, self.settings.max_upload_pixels)
        except ImageRejected as rejected:
            raise SignalingError(rejected.code, rejected.detail) from None
        if participant.id not in self.participants:
            return  # they left meanwhile
        participant.own_pictures.current = own
        await participant.send_event({"type": "own-background", **own.describe()})
        await self.set_background(participant, key)

    def _may_set_background(self, participant: Participant) -> None:
        if not self.room_settings.get(participant.room).participants_set_background:
            raise SignalingError("not_allowed", "this room's background is set by its admin")

    def _background_image(self, participant: Participant, key: str) -> np.ndarray:
        """The pristine background ``key`` names for ``participant`` (blocking: decodes uploads)."""
        own = participant.own_pictures.current
        return own.image if own is not None and own.key == key else self.backgrounds.image(key)

    def set_statistic(self, participant: Participant, statistic: object) -> None:
        """Switch the statistic for a participant's stream."""
        try:
            check_statistic(statistic)
        except ValueError as error:
            raise SignalingError("bad_statistic", str(error)) from None
        participant.statistic = statistic  # type: ignore[assignment]
        if participant.stream_open:
            self.pool.set_statistic(participant.stream_id, statistic)  # type: ignore[arg-type]

    async def set_media(self, participant: Participant, microphone: object, camera: object,
                        by_moderator: bool = False) -> None:
        """A participant muted or unmuted their microphone or camera (either may be None: unchanged):
        the server enforces it (silence relayed, the camera's frames blanked and thinned) and tells
        the room (``by``: "participant" or "moderator", so a page applies only a moderator's change to
        its own buttons). The page also stops sending itself."""
        if any(value is not None and not isinstance(value, bool) for value in (microphone, camera)):
            raise SignalingError("bad_media", "microphone and camera must be true or false")
        if microphone is not None:
            participant.microphone_on = microphone
        if camera is not None:
            participant.camera_on = camera
        await self._tell(self.members(participant.room), {"type": "participant-media", **participant.describe(),
                                                          "by": "moderator" if by_moderator else "participant"})

    async def configure_room(self, room: str, settings: RoomSettings) -> None:
        """Store a room's settings and apply them live to everyone in it (personal choices reset)."""
        await self.change_room(room, lambda _current: settings)

    async def change_room(self, room: str, change: Callable[[RoomSettings], RoomSettings]) -> RoomSettings:
        """Store ``change(the room's current settings)`` and apply it as ``configure_room`` does; the
        settings stored. A refusal ``change`` raises, or a store that cannot be written, changes nothing."""
        _, settings = await self.settings_changes.change(room, change)
        for participant in self.members(room):
            participant.background_key, participant.statistic = None, None
            await self._apply_background(participant)
            if participant.stream_open:
                self.pool.set_statistic(participant.stream_id, self.statistic_of(participant))
                self.pool.set_probe(participant.stream_id, self.probes(participant))
        await self._tell(self.members(room), {"type": "room-settings", **settings.participant_rights()})
        await self.sync_scene(room)
        return settings

    async def set_mode(self, participant: Participant, mode: object, layout: object = None) -> None:
        """A participant switches the room between individual composites and a shared scene (and picks
        the scene's layout), when the room allows it."""

        def switched(settings: RoomSettings) -> RoomSettings:
            if not settings.participants_set_mode:
                raise SignalingError("not_allowed", "this room's mode is set by its admin")
            if mode not in MODES:
                raise SignalingError("bad_mode", f"mode must be one of {', '.join(MODES)}")
            chosen = settings.layout if layout is None else layout
            if chosen not in LAYOUTS or (chosen == "seats" and not settings.seats):
                raise SignalingError("bad_layout", f"layout must be one of {', '.join(LAYOUTS)} "
                                                   "(seats only where the admin placed seats)")
            return replace(settings, mode=mode, layout=chosen)

        before, after = await self.settings_changes.change(participant.room, switched)
        if after != before:
            await self.sync_scene(participant.room)

    def scene_of(self, room: str) -> RoomScene | None:
        """The room's shared scene while it is in scene mode."""
        return self.scenes.get(room)

    async def sync_scene(self, room: str) -> None:
        """Bring the room's shared scene in line with its settings and members (``SceneRooms.sync``)."""
        await self.scene_rooms.sync(room)

    async def backgrounds_changed(self, deleted: str | None = None) -> None:
        """After an upload or a delete: whoever used a deleted background falls back, and every
        client's picker gets the new list."""
        if deleted is not None:
            self.backgrounds.forget(deleted)
            await self.settings_changes.forget_background(deleted)
            for participant in list(self.participants.values()):
                if participant.background_key == deleted:
                    participant.background_key = None
                if participant.applied_background == deleted:
                    await self._apply_background(participant)
        listing = await asyncio.to_thread(self.backgrounds.list)
        await self._tell(list(self.participants.values()),
                         {"type": "backgrounds", "backgrounds": [vars(b) for b in listing]})

    async def _apply_background(self, participant: Participant) -> None:
        key = self.background_of(participant)
        if key == participant.applied_background:
            return
        participant.applied_background = key
        if participant.stream_open:
            image = await asyncio.to_thread(self._background_image, participant, key)
            if participant.stream_open:
                self.pool.set_background(participant.stream_id, key, image)
        await participant.send_event({"type": "background", "background": key})

    def _watch(self, pc: RTCPeerConnection, participant: Participant) -> None:
        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and participant.id in self.participants:
                logger.info("participant %s: publish connection %s", participant.id, pc.connectionState)
                await self.remove(participant, f"publish_connection_{pc.connectionState}")

    async def tell_room(self, room: str, event: dict) -> None:
        """Send ``event`` to everyone in ``room``."""
        await self._tell(self.members(room), event)

    def _speaking_changed(self, participant: Participant, speaking: bool) -> None:
        """A participant started or stopped speaking: the room (them included) is told, without holding
        up their audio."""
        participant.speaking = speaking
        if self.participants.get(participant.id) is not participant:
            return
        event = {"type": "participant-speaking", "id": participant.id, "speaking": speaking}
        task = asyncio.ensure_future(self._tell(self.members(participant.room), event))
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    async def _tell(self, participants: list[Participant], event: dict) -> None:
        await asyncio.gather(*(p.send_event(event) for p in participants), return_exceptions=True)
