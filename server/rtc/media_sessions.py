"""WHIP publishing and WHEP playback sessions: peer connections created over plain HTTP (RFC 9725).

A WHIP session is a room participant whose camera arrives from an encoder (FFmpeg, OBS, GStreamer)
instead of a browser; it lives until DELETE, until its connection fails, or until its media stops
(some encoders never answer ICE consent checks, so silence of the media is what says they are gone).
A WHEP session plays one participant's composite, the same packets every viewer gets, until DELETE,
until its connection closes, or until that participant leaves.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection
from aiortc.sdp import candidate_from_sdp

from .conference import Conference, SignalingError
from .consent import consent_only_if_answered
from .participant import Participant
from .peers import close_quietly
from .viewer_connections import close_viewer

logger = logging.getLogger(__name__)


@dataclass
class MediaSession:
    """One WHIP or WHEP session, addressed as ``/{kind}/{room}/{id}``."""

    kind: str
    room: str
    pc: RTCPeerConnection
    participant: Participant | None
    """WHIP: the publisher the session made; WHEP: the participant being played (None: the room's scene)."""
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    ended: bool = False
    _watchdog: asyncio.Task | None = None


async def _no_events(event: dict) -> None:
    """WHIP publishers have no signaling channel: room events are not for them."""


class MediaSessions:
    """The live WHIP and WHEP sessions of this server."""

    def __init__(self, conference: Conference, media_timeout: float = 5.0, first_media_timeout: float = 20.0) -> None:
        self.conference = conference
        self.media_timeout, self.first_media_timeout = media_timeout, first_media_timeout
        self._sessions: dict[tuple[str, str, str], MediaSession] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, kind: str, room: str, session_id: str) -> MediaSession | None:
        """A live session, or None."""
        return self._sessions.get((kind, room, session_id))

    async def start_whip(self, room: str, name: str, probe: bool, offer_sdp: str) -> tuple[MediaSession, str]:
        """Join ``room`` as ``name`` and publish the offer's media; the session and the SDP answer."""
        participant = await self.conference.join(room, name, probe, _no_events)
        try:
            answer = await self.conference.publish(participant, offer_sdp, accept_h264=True,
                                                   on_offer_set=consent_only_if_answered)
        except BaseException:
            await self.conference.leave(participant)
            raise
        assert participant.publish_pc is not None
        session = MediaSession("whip", room, participant.publish_pc, participant)
        self._sessions[(session.kind, room, session.id)] = session
        session._watchdog = asyncio.ensure_future(self._watch_media(session))
        logger.info("WHIP session %s: %s publishes in %s", session.id, participant.name, room)
        return session, answer

    async def start_whep(self, room: str, participant_ref: str, offer_sdp: str) -> tuple[MediaSession, str]:
        """Play the composite of ``room``'s participant named (or with id) ``participant_ref``."""
        publisher = self.conference.find(room, participant_ref)
        if publisher is None:
            raise SignalingError("unknown_participant", f"no participant {participant_ref!r} in room {room}")
        pc, answer = await self.conference.watch(publisher, offer_sdp)
        if publisher.id not in self.conference.participants:
            await close_quietly(pc)
            raise SignalingError("unknown_participant", f"{participant_ref!r} left room {room}")
        publisher.external_viewers.add(pc)
        session = self._playing(room, pc, publisher)
        logger.info("WHEP session %s plays %s in %s", session.id, publisher.name, room)
        return session, answer

    async def start_whep_scene(self, room: str, offer_sdp: str) -> tuple[MediaSession, str]:
        """Play ``room``'s shared scene (409 ``not_scene_mode`` unless the room is in scene mode)."""
        pc, answer = await self.conference.watch_scene(room, offer_sdp)
        session = self._playing(room, pc, None)
        logger.info("WHEP session %s plays the scene of %s", session.id, room)
        return session, answer

    def _playing(self, room: str, pc: RTCPeerConnection, participant: Participant | None) -> MediaSession:
        """Register a WHEP session that ends when its connection fails or closes."""
        session = MediaSession("whep", room, pc, participant)
        self._sessions[(session.kind, room, session.id)] = session

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.end(session)

        return session

    async def add_candidates(self, session: MediaSession, fragment: str) -> None:
        """Apply a trickle-ICE SDP fragment: its candidates, and end-of-candidates; ValueError if malformed."""
        mid: str | None = None
        candidates, finished = [], False
        for raw in fragment.splitlines():
            line = raw.strip()
            if line.startswith("a=mid:"):
                mid = line[len("a=mid:"):]
            elif line.startswith("a=candidate:"):
                try:
                    candidate = candidate_from_sdp(line[len("a=candidate:"):])
                except (ValueError, IndexError) as error:
                    raise ValueError(f"malformed candidate {line!r}: {error}") from None
                if mid is None:
                    candidate.sdpMLineIndex = 0
                else:
                    candidate.sdpMid = mid
                candidates.append(candidate)
            elif line == "a=end-of-candidates":
                finished = True
        for candidate in candidates:
            await session.pc.addIceCandidate(candidate)
        if finished:
            await session.pc.addIceCandidate(None)

    async def end(self, session: MediaSession) -> None:
        """End a session and release what it holds (idempotent)."""
        if session.ended:
            return
        session.ended = True
        self._sessions.pop((session.kind, session.room, session.id), None)
        if session._watchdog is not None and session._watchdog is not asyncio.current_task():
            session._watchdog.cancel()
        if session.kind == "whip":
            assert session.participant is not None
            await self.conference.leave(session.participant)
        else:
            if session.participant is not None:
                session.participant.external_viewers.discard(session.pc)
            await close_viewer(session.pc)
        logger.info("%s session %s ended", session.kind.upper(), session.id)

    async def close(self) -> None:
        """End every session."""
        await asyncio.gather(*(self.end(s) for s in list(self._sessions.values())), return_exceptions=True)

    async def _watch_media(self, session: MediaSession) -> None:
        """End a WHIP session when its participant is gone or its video has stopped."""
        loop = asyncio.get_running_loop()
        participant = session.participant
        assert participant is not None
        frames, changed_at = -1, loop.time()
        while participant.id in self.conference.participants:
            await asyncio.sleep(0.5)
            now = loop.time()
            if participant.stats.frames_in != frames:
                frames, changed_at = participant.stats.frames_in, now
                continue
            limit = self.media_timeout if frames > 0 else self.first_media_timeout
            if now - changed_at > limit:
                logger.info("WHIP session %s: no video for %.0f s, the publisher is gone", session.id, limit)
                break
        await self.end(session)
