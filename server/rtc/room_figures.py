"""Live figures of the conference's rooms: the stats pushed to each room once a second and the
admin API's view of every active room."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .participant import Participant

if TYPE_CHECKING:
    from ..pipeline.pool import WorkerPool
    from .conference import Conference


def admin_view(conference: Conference) -> list[dict]:
    """Active rooms with their settings, participants and each stream's live figures."""
    rooms = []
    for state in conference.directory.rooms():
        settings = conference.room_settings.get(state.name)
        scene = conference.scenes.get(state.name)
        rooms.append({
            "room": state.name, "background_id": settings.background_id, "statistic": settings.statistic,
            "latency_probe": settings.latency_probe, "mode": settings.mode, "layout": settings.layout,
            "scene": scene.figures() if scene is not None else None,
            "participants": [{
                **p.describe(), "probe": conference.probes(p), "publishing": p.stream_open,
                "background_id": p.applied_background, "statistic": conference.statistic_of(p),
                "quality": None if p.stats.quality is None else round(p.stats.quality, 4),
                "stream": stream_figures(conference.pool, p),
            } for p in conference.members(state.name)],
        })
    return rooms


async def push_stats(conference: Conference, seconds: float = 1.0) -> None:
    """Forever: every ``seconds``, each room's members get its stream figures (``stats``), with the
    scene's in scene mode."""
    while True:
        await asyncio.sleep(seconds)
        for state in conference.directory.rooms():
            members = conference.members(state.name)
            if members:
                event = {"type": "stats", "streams": room_stats(conference, state.name)}
                scene = conference.scenes.get(state.name)
                if scene is not None:
                    event["scene"] = scene.figures()
                await conference.tell_room(state.name, event)


def room_stats(conference: Conference, room: str) -> dict:
    """Per-participant stream figures of a room."""
    return {p.id: {"name": p.name, **stream_figures(conference.pool, p)} for p in conference.members(room)}


def stream_figures(pool: WorkerPool, participant: Participant) -> dict:
    """A participant's live stream figures: their stats plus the pool's and the broadcast's counters."""
    return {**participant.stats.as_dict(), "frames_dropped": pool.dropped(participant.stream_id),
            "viewers": participant.broadcast.viewers,
            "keyframe_requests": participant.broadcast.keyframe_requests}
