"""A room's shared scene: who sits where, the common quality target, and one encoded stream for all.

The seated participants' workers send cut-outs (their frame scaled into the seat, mask as alpha,
degraded to the scene's target); this object keeps each seat's latest one, recomputes the target
from the seats' own estimated losses (the weakest seat by default), and asks the pool to compose a
scene frame, at most ``fps`` per second and newest-wins. A seat whose stream stalls keeps its last
cut-out for ``STALL_SECONDS``, then empties. Joins and leaves re-flow the layout; the scene's encoder
runs on, so nobody gets a keyframe they did not ask for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..imaging.scene_layout import Box, SeatSpec, scene_target, seat_boxes
from ..pipeline.messages import CutOutResult, FrameResult, OpenScene, StreamFailed
from ..pipeline.pool import WorkerPool
from .composite_track import PacketBroadcast

logger = logging.getLogger(__name__)

STALL_SECONDS = 2.0
"""How long a stalled participant's last cut-out stays in their seat."""
TARGET_RESEND = 0.002
"""A new target reaches the seats' workers once it moved this much (their levels have hysteresis)."""
IDLE_COMPOSE_SECONDS = 0.5
"""With no new cut-out for this long the scene is composed anyway (stalled seats empty out)."""


@dataclass
class _Seat:
    participant_id: str
    name: str
    stream_id: str
    box: Box
    cutout: CutOutResult | None = None
    arrived: float = 0.0
    fresh: bool = False


@dataclass
class SceneStats:
    """Live figures of a scene stream."""

    frames_out: int = 0
    frames_failed: int = 0
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=600))
    out_times: deque = field(default_factory=lambda: deque(maxlen=240))
    stage_ms: dict = field(default_factory=dict)
    last_error: str | None = None

    def fps(self) -> float:
        """Scene frames per second over the last two seconds."""
        now = time.monotonic()
        return sum(1 for t in self.out_times if now - t <= 2.0) / 2.0


class RoomScene:
    """The shared scene of one room; ``close`` when the room leaves scene mode or empties."""

    def __init__(self, room: str, pool: WorkerPool, width: int, height: int, background_key: str,
                 background: np.ndarray, method: str, output_bitrate: int, fps: float = 30.0) -> None:
        self.room, self.pool = room, pool
        self.width, self.height = width, height
        self.stream_id = f"scene:{room}"
        self.broadcast = PacketBroadcast(lambda: pool.request_keyframe(self.stream_id))
        self.stats = SceneStats()
        self.layout, self.statistic = "grid", "min"
        self.seat_specs: tuple[SeatSpec, ...] | None = None
        self.target = 0.0
        self.background_key = background_key
        self._sent_target = -1.0
        self._seats: dict[str, _Seat] = {}
        self._interval = 1.0 / fps
        self._last_compose = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._idle_task: asyncio.Task | None = None
        self._closed = False
        pool.open_stream(OpenScene(self.stream_id, width, height, background_key, background, method, output_bitrate),
                         self._on_scene_result)
        self._idle_task = asyncio.ensure_future(self._compose_when_idle())

    # --- seats ------------------------------------------------------------------------------------

    def arrange(self, layout: str, seated: list[tuple[str, str, str]], statistic: str = "min",
                seat_specs: tuple[SeatSpec, ...] | None = None) -> list[str]:
        """Seat ``seated`` (participant id, name, pool stream id; join order) in ``layout``; those beyond
        the layout's capacity stay unseated. Returns the ids seated. Streams no longer seated go back to
        individual composites."""
        capacity = {"cohost": 2, "seats": len(seat_specs or ())}.get(layout, 9)
        chosen = seated[:capacity]
        boxes = seat_boxes(layout, len(chosen), self.width, self.height, list(seat_specs or ()))
        self.layout, self.statistic, self.seat_specs = layout, statistic, seat_specs
        previous = self._seats
        self._seats = {}
        for (participant_id, name, stream_id), box in zip(chosen, boxes):
            seat = previous.pop(participant_id, None) or _Seat(participant_id, name, stream_id, box)
            moved = seat.box != box
            seat.box, seat.name, seat.stream_id = box, name, stream_id
            if moved:
                seat.cutout, seat.fresh = None, False  # an old cut-out has the old seat's size
            self._seats[participant_id] = seat
            self.pool.set_scene_seat(stream_id, box, self.target)
        for seat in previous.values():
            self.pool.set_scene_seat(seat.stream_id, None)
        self._retarget(force=True)
        self._schedule()
        return list(self._seats)

    def set_background(self, key: str, background: np.ndarray) -> None:
        """Switch the scene's background."""
        self.background_key = key
        self.pool.set_background(self.stream_id, key, background)

    def describe(self) -> dict:
        """The scene's geometry for clients: size, layout, each seat as fractions of the frame."""
        return {
            "width": self.width, "height": self.height, "layout": self.layout, "statistic": self.statistic,
            "seats": [{
                "id": seat.participant_id, "name": seat.name,
                "box": {"x": seat.box.x / self.width, "y": seat.box.y / self.height,
                        "width": seat.box.width / self.width, "height": seat.box.height / self.height},
            } for seat in self._seats.values()],
        }

    def seat_figures(self) -> dict:
        """Per seat: own estimated loss, extra loss added, the loss as shown in the scene, live or not."""
        now = time.monotonic()
        figures = {}
        for seat in self._seats.values():
            cut = seat.cutout
            figures[seat.participant_id] = {
                "name": seat.name,
                "quality": None if cut is None else round(cut.quality, 4),
                "added_loss": None if cut is None else round(cut.added_loss, 4),
                "scene_quality": None if cut is None else round(cut.quality + cut.added_loss, 4),
                "level": None if cut is None else cut.level,
                "live": cut is not None and now - seat.arrived <= STALL_SECONDS,
            }
        return figures

    def figures(self) -> dict:
        """The scene stream's live figures."""
        latencies = np.array(self.stats.latencies_ms) if self.stats.latencies_ms else None
        return {
            "target": round(self.target, 4), "fps": round(self.stats.fps(), 1), "frames_out": self.stats.frames_out,
            "frames_dropped": self.pool.dropped(self.stream_id), "viewers": self.broadcast.viewers,
            "latency_ms": None if latencies is None else {
                "p50": round(float(np.percentile(latencies, 50)), 2),
                "p95": round(float(np.percentile(latencies, 95)), 2)},
            "stage_ms": {stage: round(float(np.median(v)), 2) for stage, v in self.stats.stage_ms.items()},
            "seats": self.seat_figures(), "last_error": self.stats.last_error,
        }

    # --- frames -----------------------------------------------------------------------------------

    def on_seat_result(self, participant_id: str, result: CutOutResult) -> None:
        """A seated participant's worker delivered a cut-out."""
        seat = self._seats.get(participant_id)
        if seat is None or self._closed:
            return
        if not _inside(result.cutout.box, seat.box):
            return  # made for the seat this participant had before a re-flow
        seat.cutout, seat.arrived, seat.fresh = result, time.monotonic(), True
        self._retarget()
        self._schedule()

    def _live_seats(self, now: float) -> list[_Seat]:
        return [s for s in self._seats.values() if s.cutout is not None and now - s.arrived <= STALL_SECONDS]

    def _retarget(self, force: bool = False) -> None:
        live = self._live_seats(time.monotonic())
        if not live:
            return
        self.target = scene_target([s.cutout.quality for s in live], self.statistic)  # type: ignore[union-attr]
        if force or abs(self.target - self._sent_target) >= TARGET_RESEND:
            self._sent_target = self.target
            for seat in self._seats.values():
                self.pool.set_scene_seat(seat.stream_id, seat.box, self.target)

    def _schedule(self) -> None:
        if self._closed or self._timer is not None:
            return
        wait = self._last_compose + self._interval - time.monotonic()
        if wait <= 0:
            self._compose()
        else:
            self._timer = asyncio.get_running_loop().call_later(wait, self._compose)

    def _compose(self) -> None:
        self._timer = None
        if self._closed:
            return
        now = time.monotonic()
        self._last_compose = now
        live = self._live_seats(now)
        fresh = [s for s in live if s.fresh]
        # Server-added latency of a scene frame: from the arrival of the oldest seat frame new in it.
        received_at = min((s.cutout.received_at for s in fresh), default=now)  # type: ignore[union-attr]
        for seat in fresh:
            seat.fresh = False
        self.pool.compose_scene(self.stream_id, [s.cutout.cutout for s in live], self.target,  # type: ignore[union-attr]
                                int(now * 90_000), received_at)

    async def _compose_when_idle(self) -> None:
        while not self._closed:
            await asyncio.sleep(IDLE_COMPOSE_SECONDS / 2)
            if time.monotonic() - self._last_compose >= IDLE_COMPOSE_SECONDS:
                self._schedule()

    def _on_scene_result(self, result: FrameResult | CutOutResult | StreamFailed) -> None:
        if isinstance(result, StreamFailed):
            self.stats.frames_failed += 1
            self.stats.last_error = result.error
            logger.warning("scene %s: %s", self.room, result.error)
            return
        if not isinstance(result, FrameResult):
            return
        now = time.monotonic()
        for packet in result.packets:
            self.broadcast.publish(packet)
        self.stats.frames_out += 1
        self.stats.out_times.append(now)
        self.stats.latencies_ms.append((now - result.received_at) * 1000.0)
        for stage, value in result.timings_ms.items():
            self.stats.stage_ms.setdefault(stage, deque(maxlen=120)).append(value)

    def close(self) -> None:
        """Stop composing; seated streams go back to individual composites; viewers' tracks end."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._idle_task is not None:
            self._idle_task.cancel()
        for seat in self._seats.values():
            self.pool.set_scene_seat(seat.stream_id, None)
        self._seats.clear()
        self.pool.close_stream(self.stream_id)
        self.broadcast.close()


def _inside(placed: Box, seat: Box) -> bool:
    """Whether a cut-out placed at ``placed`` was made for ``seat`` (bottom-anchored inside it)."""
    return (placed.bottom == seat.bottom and seat.x - 1 <= placed.x and placed.x + placed.width <= seat.x + seat.width + 1
            and placed.height <= seat.height)
