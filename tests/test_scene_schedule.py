"""When a shared scene composes (once every live seat has a new picture, or once the oldest new
picture has waited ``GATHER_SECONDS`` for the others), and what it asks of each seat (a real
``RoomScene`` and composer; the worker pool is not started, so no seat stream exists and nothing is
sent to workers)."""

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


def cut_out(seat_index: int, quality: float = 0.05) -> CutOutResult:
    seat = seat_boxes("row", 2, WIDTH, HEIGHT)[seat_index]
    place = place_in_seat(160, 120, seat)
    picture = np.full((place.height * 3 // 2, place.width), 128, np.uint8)
    alpha = np.full((place.height, place.width), 255, np.uint8)
    return CutOutResult(f"s{seat_index}", 0, SeatCutOut(place, picture, alpha), quality, 0, 0.0, time.monotonic())


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


def test_the_scene_target_follows_the_seats_averaged_losses_not_each_frame() -> None:
    """The weakest seat's estimate swings frame by frame (0.07 / 0.11, as within a group of pictures):
    the target stays near its average and the better seat is asked for the difference of averages."""

    async def scenario() -> None:
        scene = RoomScene("r", WorkerPool(workers=1), WIDTH, HEIGHT, "studio", studio_background(), "jpeg",
                          300_000, fps=90)
        try:
            scene.arrange("row", [("weak", "Weak", "s0"), ("good", "Good", "s1")])
            targets, asked = [], []
            for frame in range(90):  # 3 s at 30 fps
                scene.on_seat_result("weak", cut_out(0, 0.07 if frame % 2 else 0.11))
                scene.on_seat_result("good", cut_out(1, 0.03))
                if frame >= 60:
                    targets.append(scene.target)
                    asked.append(scene.figures()["seats"]["good"]["requested_loss"])
                await asyncio.sleep(1 / 30)
            seats = scene.figures()["seats"]
            assert max(targets) - min(targets) < 0.01, targets  # the frames swing by 0.04
            assert np.mean(targets) == pytest.approx(0.09, abs=0.005)
            assert seats["weak"]["requested_loss"] == 0.0
            assert np.mean(asked) == pytest.approx(np.mean(targets) - 0.03, abs=0.002)
            assert seats["good"]["smoothed_quality"] == pytest.approx(0.03)
        finally:
            scene.close()

    asyncio.run(scenario())
