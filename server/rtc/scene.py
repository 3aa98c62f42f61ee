"""A room's shared scene: who sits where, the common quality target, and one encoded stream for all.

The seated participants' workers send cut-outs (their frame scaled into the seat, mask as alpha,
degraded to the scene's target); this object keeps each seat's latest one, recomputes the target
from the seats' own estimated losses averaged over their last two seconds (the weakest seat by
default), sends each seat the extra loss that brings it there, and composes a scene frame once
every live seat has a new picture, or once the oldest new picture has waited ``GATHER_SECONDS`` for
the others, at most ``fps`` per second, one at a time (a frame asked for meanwhile is composed next,
from the newest cut-outs). Cameras are not in step: a fixed frame clock would make a picture wait up
to a whole scene frame interval, the gathering window bounds that wait. Composing and encoding run
on the scene's own thread (``SceneComposer``: OpenCV and the codec release the GIL), never on the
event loop. A seat whose stream stalls keeps its last cut-out for ``STALL_SECONDS``, then empties.
Joins and leaves re-flow the layout; the scene's encoder runs on, so nobody gets a keyframe they
did not ask for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..imaging.scene_layout import Box, SeatSpec, seat_boxes
from ..imaging.scene_matching import SmoothedLoss, extras_to_send, seat_extras
from ..pipeline.messages import CutOutResult
from ..pipeline.pool import WorkerPool
from ..pipeline.scene_composer import SceneComposer, SceneFrame
from .audio_fanout import AudioFanout
from .audio_mix import AudioMixTrack
from .composite_track import PacketBroadcast

logger = logging.getLogger(__name__)

STALL_SECONDS = 2.0
"""How long a stalled participant's last cut-out stays in their seat."""
GATHER_SECONDS = 0.008
"""How long a seat's new picture may wait for the other seats' before the scene frame is composed
(4 seats at 30 fps: ~63 scene frames/s; a picture waits 8 ms, against 7 ms median and 14 ms p95 at a
fixed 60 fps clock)."""
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
    loss: SmoothedLoss = field(default_factory=SmoothedLoss)
    """The seat's own estimated loss, averaged over its recent cut-outs."""
    extra: float = 0.0
    """The extra loss last sent to the seat's worker."""


@dataclass
class SceneStats:
    """Live figures of a scene stream."""

    frames_out: int = 0
    frames_failed: int = 0
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=600))
    """Server-added latency of each seat frame shown: received -> the first scene frame with it sent."""
    seat_latencies_ms: deque = field(default_factory=lambda: deque(maxlen=600))
    """Seat frame received -> its cut-out back from the seat's worker."""
    out_times: deque = field(default_factory=lambda: deque(maxlen=240))
    stage_ms: dict = field(default_factory=dict)
    seat_stage_ms: dict = field(default_factory=dict)
    """Per stage, the seats' worker milliseconds (segment, estimate, match, total)."""
    last_error: str | None = None

    def fps(self) -> float:
        """Scene frames per second over the last two seconds."""
        now = time.monotonic()
        return sum(1 for t in self.out_times if now - t <= 2.0) / 2.0


class RoomScene:
    """The shared scene of one room; ``close`` when the room leaves scene mode or empties."""

    def __init__(self, room: str, pool: WorkerPool, width: int, height: int, background_key: str,
                 background: np.ndarray, method: str, output_bitrate: int, fps: float = 30.0,
                 matching: bool = True) -> None:
        self.room, self.pool = room, pool
        self.width, self.height = width, height
        self.broadcast = PacketBroadcast(self._want_keyframe)
        self.voices = AudioMixTrack()  # the room's voices for the scene's audience (``set_voices``)
        self.audio = AudioFanout(self.voices)
        self.stats = SceneStats()
        self.layout, self.statistic = "grid", "min"
        self.target = 0.0
        self.background_key = background_key
        self._seats: dict[str, _Seat] = {}
        self._interval = 1.0 / fps
        self.matching = matching
        self._last_compose = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._idle_task: asyncio.Task | None = None
        self._closed = False
        self._in_flight = False
        self._again = False
        self._keyframe = True
        self._loop = asyncio.get_running_loop()
        self._composer = SceneComposer(width, height, background_key, background, method, output_bitrate)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"scene-{room}")
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
        self.layout, self.statistic = layout, statistic
        previous = self._seats
        self._seats = {}
        for (participant_id, name, stream_id), box in zip(chosen, boxes):
            seat = previous.pop(participant_id, None) or _Seat(participant_id, name, stream_id, box)
            moved = seat.box != box
            seat.box, seat.name, seat.stream_id = box, name, stream_id
            if moved:
                seat.cutout, seat.fresh = None, False  # an old cut-out has the old seat's size
            self._seats[participant_id] = seat
            self.pool.set_scene_seat(stream_id, box, seat.extra)
        for seat in previous.values():
            self.pool.set_scene_seat(seat.stream_id, None)
        self._retarget(force=True)
        self._schedule()
        return list(self._seats)

    def set_background(self, key: str, background: np.ndarray) -> None:
        """Switch the scene's background (from the next frame on)."""
        self.background_key = key
        self._thread.submit(self._composer.set_background, key, background)

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
        """Per seat: own estimated loss (latest frame's, and averaged), the extra loss asked of it and
        the one added, the loss as shown in the scene, live or not."""
        now = time.monotonic()
        figures = {}
        for seat in self._seats.values():
            cut = seat.cutout
            figures[seat.participant_id] = {
                "name": seat.name,
                "quality": None if cut is None else round(cut.quality, 4),
                "smoothed_quality": None if seat.loss.value is None else round(seat.loss.value, 4),
                "requested_loss": round(seat.extra, 4),
                "added_loss": None if cut is None else round(cut.added_loss, 4),
                "scene_quality": None if cut is None else round(cut.quality + cut.added_loss, 4),
                "level": None if cut is None else cut.level,
                "live": cut is not None and now - seat.arrived <= STALL_SECONDS,
            }
        return figures

    def figures(self) -> dict:
        """The scene stream's live figures."""
        return {
            "target": round(self.target, 4), "fps": round(self.stats.fps(), 1), "frames_out": self.stats.frames_out,
            "viewers": self.broadcast.viewers,
            "latency_ms": _percentiles(self.stats.latencies_ms),
            "seat_latency_ms": _percentiles(self.stats.seat_latencies_ms),
            "stage_ms": {stage: round(float(np.median(v)), 2) for stage, v in self.stats.stage_ms.items()},
            "seat_stage_ms": {stage: _percentiles(v) for stage, v in self.stats.seat_stage_ms.items()},
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
        seat.loss.update(result.quality, result.received_at)  # the frame's time, not its worker's delay
        self.stats.seat_latencies_ms.append((seat.arrived - result.received_at) * 1000.0)
        for stage, value in result.timings_ms.items():
            self.stats.seat_stage_ms.setdefault(stage, deque(maxlen=240)).append(value)
        self._retarget()
        self._schedule()

    def _live_seats(self, now: float) -> list[_Seat]:
        return [s for s in self._seats.values() if s.cutout is not None and now - s.arrived <= STALL_SECONDS]

    def _retarget(self, force: bool = False) -> None:
        live = self._live_seats(time.monotonic())
        if not live:
            return
        losses = {s.participant_id: s.loss.value for s in live if s.loss.value is not None}
        if not losses:
            return
        self.target, extras = seat_extras(losses, self.statistic)
        # Live seats only (a stalled one keeps what it had until it sends again); matching off: nothing
        # is added to any seat.
        wanted = {pid: extra if self.matching else 0.0 for pid, extra in extras.items()}
        sent = {pid: self._seats[pid].extra for pid in wanted}
        for pid, extra in extras_to_send(wanted, sent, force).items():
            seat = self._seats[pid]
            seat.extra = extra
            self.pool.set_scene_seat(seat.stream_id, seat.box, extra)

    def _schedule(self) -> None:
        if self._closed:
            return
        now = time.monotonic()
        live = self._live_seats(now)
        fresh = [s for s in live if s.fresh]
        if fresh and len(fresh) < len(live):  # wait a little for the others' new pictures
            due = min(s.arrived for s in fresh) + GATHER_SECONDS
        else:  # everyone has a new picture (or none has: stalled seats empty out)
            due = now
        due = max(due, self._last_compose + self._interval)
        if self._timer is not None:
            if self._timer.when() <= self._loop.time() + (due - now):
                return  # already due no later
            self._timer.cancel()
            self._timer = None
        if due <= now:
            self._compose()
        else:
            self._timer = self._loop.call_later(due - now, self._compose)

    def _compose(self) -> None:
        self._timer = None
        if self._closed:
            return
        if self._in_flight:
            self._again = True  # composed from the newest cut-outs once the current frame is done
            return
        now = time.monotonic()
        self._last_compose = now
        live = self._live_seats(now)
        fresh = [s for s in live if s.fresh]
        received = [s.cutout.received_at for s in fresh]  # type: ignore[union-attr]
        for seat in fresh:
            seat.fresh = False
        cutouts = [s.cutout.cutout for s in live]  # type: ignore[union-attr]
        keyframe, self._keyframe = self._keyframe, False
        self._in_flight = True
        future = self._thread.submit(self._composer.compose, cutouts, self.target, int(now * 90_000), keyframe)
        future.add_done_callback(lambda done: self._hand_back(done, received))

    def _hand_back(self, future: Future, received: list[float]) -> None:
        """On the composer thread: pass the finished frame to the event loop (unless it has closed)."""
        try:
            self._loop.call_soon_threadsafe(self._composed, future, received)
        except RuntimeError:  # the loop closed during shutdown: nobody is left to send the frame to
            pass

    def _composed(self, future: Future, received: list[float]) -> None:
        self._in_flight = False
        if self._closed or future.cancelled():
            return
        try:
            frame: SceneFrame = future.result()
        except Exception as error:  # one bad frame must not end the scene
            self.stats.frames_failed += 1
            self.stats.last_error = f"{type(error).__name__}: {error}"
            logger.warning("scene %s: %s", self.room, self.stats.last_error)
        else:
            now = time.monotonic()
            for packet in frame.packets:
                self.broadcast.publish(packet)
            self.stats.frames_out += 1
            self.stats.out_times.append(now)
            self.stats.latencies_ms.extend((now - at) * 1000.0 for at in received)
            for stage, value in frame.timings_ms.items():
                self.stats.stage_ms.setdefault(stage, deque(maxlen=120)).append(value)
        if self._again:
            self._again = False
            self._schedule()

    def _want_keyframe(self) -> None:
        self._keyframe = True

    async def _compose_when_idle(self) -> None:
        while not self._closed:
            await asyncio.sleep(IDLE_COMPOSE_SECONDS / 2)
            if time.monotonic() - self._last_compose >= IDLE_COMPOSE_SECONDS:
                self._schedule()

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
        self._thread.shutdown(wait=False, cancel_futures=True)
        self._composer.close()
        self.broadcast.close()
        self.voices.stop()  # the fanout reading it ends, and with it every player's audio track


def _percentiles(values: deque) -> dict | None:
    if not values:
        return None
    array = np.array(values)
    return {"p50": round(float(np.percentile(array, 50)), 2), "p95": round(float(np.percentile(array, 95)), 2)}


def _inside(placed: Box, seat: Box) -> bool:
    """Whether a cut-out placed at ``placed`` was made for ``seat`` (bottom-anchored inside it)."""
    return (placed.bottom == seat.bottom and seat.x - 1 <= placed.x and placed.x + placed.width <= seat.x + seat.width + 1
            and placed.height <= seat.height)
