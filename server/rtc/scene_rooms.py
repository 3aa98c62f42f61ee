"""Each room's shared scene, kept in line with the room's settings and members: made when the room
switches to scene mode, re-seated as people publish and leave, closed when it switches back or empties.
The conference calls ``sync`` after every such change."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..imaging.room_blur import BLURRED_ROOM_KEY
from ..pipeline.pool import WorkerPool
from ..settings import Settings
from ..storage.catalog import BackgroundCatalog
from ..storage.room_settings import RoomSettingsStore
from .participant import Participant
from .scene import RoomScene


class SceneRooms:
    """The scenes of the rooms in scene mode (``scenes``: room -> scene)."""

    def __init__(self, settings: Settings, pool: WorkerPool, room_settings: RoomSettingsStore,
                 backgrounds: BackgroundCatalog, members: Callable[[str], list[Participant]],
                 tell: Callable[[list[Participant], dict], Awaitable[None]]) -> None:
        self.settings, self.pool, self.room_settings, self.backgrounds = settings, pool, room_settings, backgrounds
        self._members, self._tell = members, tell
        self.scenes: dict[str, RoomScene] = {}

    async def sync(self, room: str) -> None:
        """Bring the room's shared scene in line with its settings and members: create or close it,
        re-seat the publishing members in join order, mix everyone's voice for the scene's audience,
        route everyone's returned video, tell clients."""
        settings = self.room_settings.get(room)
        members = self._members(room)
        scene = self.scenes.get(room)
        if settings.mode == "scene" and members:
            # A shared scene is one background for everyone: "blur my room" has no room to blur there.
            key = (settings.background_id if settings.background_id not in (None, BLURRED_ROOM_KEY)
                   else self.backgrounds.default_key)
            if scene is None or scene.background_key != key:
                image = await asyncio.to_thread(self.backgrounds.image, key)
                if self.room_settings.get(room).mode != "scene" or not self._members(room):
                    return  # switched back (or emptied) while the image loaded: that call tidies up
                scene = self.scenes.get(room)  # another call may have made it meanwhile
                if scene is None:
                    scene = self.scenes[room] = RoomScene(
                        room, self.pool, self.settings.scene_width, self.settings.scene_height, key, image,
                        self._method(), self.settings.output_bitrate, fps=self.settings.scene_max_fps,
                        matching=self.settings.scene_matching)
                elif scene.background_key != key:
                    scene.set_background(key, image)
                settings, members = self.room_settings.get(room), self._members(room)
            seated = scene.arrange(settings.layout, [(p.id, p.name, p.stream_id) for p in members if p.stream_open],
                                   settings.scene_statistic, settings.seats)
            scene.voices.set_voices({p.id: p.audio for p in members})
            for member in members:
                member.scene_sink = scene.on_seat_result if member.id in seated else None
                member.show(scene.broadcast)
            await self._tell(members, {"type": "scene", "mode": "scene", **scene.describe()})
        elif scene is not None:
            del self.scenes[room]
            for member in members:
                member.scene_sink = None
                member.show(member.broadcast)  # before the scene's tracks end
            scene.close()
            await self._tell(members, {"type": "scene", "mode": "individual"})

    def _method(self) -> str:
        """How the scene background is degraded: the server's method; "codec" means VP8, the scene's."""
        method = self.settings.degradation
        return "vp8" if method == "codec" else method
