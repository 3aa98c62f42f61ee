"""When a shared scene composes: once every live seat has a new picture, or once the oldest new
picture has waited ``GATHER_SECONDS`` for the others (a real ``RoomScene`` and composer; the worker
pool is not started, so no seat stream exists and nothing is sent to workers)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from server.imaging.default_background import studio_background
from server.imaging.scene_layout import place_in_seat, seat_boxes
from server.imaging.scene_matching import SeatCutOut
from server.pipeline.messages import CutOutResult
from server.pipeline.pool import WorkerPool
from server.rtc import scene as scene_module
from server.rtc.scene import GATHER_SECONDS, RoomScene

WIDTH, HEIGHT = 320, 240


def cut_out(seat_index: int) -> CutOutResult:
    seat = seat_boxes("row", 2, WIDTH, HEIGHT)[seat_index]
    place = place_in_seat(160, 120, seat)
    picture = np.full((place.height * 3 // 2, place.width), 128, np.uint8)
    alpha = np.full((place.height, place.width), 255, np.uint8)
    return CutOutResult(f"s{seat_index}", 0, SeatCutOut(place, picture, alpha), 0.05, 0, 0.0, time.monotonic())


async def settle(scene: RoomScene, frames: int) -> int:
    """Wait (up to 10 s: a loaded machine composes slowly) until ``frames`` scene frames have been
    composed, then a little longer for any frame too many; the frames composed by then."""
    deadline = time.monotonic() + 10.0
    while scene.stats.frames_out < frames and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.15)
    return scene.stats.frames_out


def test_scene_gathers_the_seats_new_pictures_into_one_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scene_module, "IDLE_COMPOSE_SECONDS", 60.0)  # only the seats' pictures compose

    async def scenario() -> None:
        scene = RoomScene("r", WorkerPool(workers=1), WIDTH, HEIGHT, "studio", studio_background(), "jpeg",
                          300_000, fps=90)
        try:
            scene.arrange("row", [("a", "A", "s0"), ("b", "B", "s1")])
            scene.on_seat_result("a", cut_out(0))
            scene.on_seat_result("b", cut_out(1))
            before = await settle(scene, 2)  # a's picture at once (the only live seat), then b's
            assert before == 2
            assert scene.figures()["seats"]["a"]["live"] and scene.figures()["seats"]["b"]["live"]

            # Both seats' new pictures within the window: one scene frame shows both.
            scene.on_seat_result("a", cut_out(0))
            scene.on_seat_result("b", cut_out(1))
            assert await settle(scene, before + 1) == before + 1

            # One seat alone: composed once the window has passed (the other seat is not waited for).
            scene.on_seat_result("a", cut_out(0))
            assert await settle(scene, before + 2) == before + 2
            assert scene.stats.latencies_ms[-1] >= GATHER_SECONDS * 1000.0
            assert scene.stats.frames_failed == 0
        finally:
            scene.close()

    asyncio.run(scenario())
