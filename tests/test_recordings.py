"""Recording a participant's composite and a room's shared scene to WebM through the admin API, with
real aiortc participants; the files are decoded back with PyAV."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import aiohttp
import av
import numpy as np
import pytest

from server.loadtest.participant import FrameSourceTrack, SyntheticParticipant
from server.rtc.recorder import vp8_size
from server.rtc.recordings import Recordings
from server.storage.recording_store import RecordingStore
from server.storage.room_settings import RoomSettings
from server.web.keys import RECORDINGS
from tests.server_harness import eventually
from tests.test_whip_whep import Tone

pytestmark = pytest.mark.slow

TOKEN = "recordings-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def first_channel(frame: av.AudioFrame) -> np.ndarray:
    samples = frame.to_ndarray()
    return samples[0] if frame.format.is_planar else samples.reshape(-1, len(frame.layout.channels))[:, 0]


def decoded(webm: bytes) -> dict:
    """What a player finds in a WebM: its video frames' size and count, its duration, its sound."""
    with av.open(io.BytesIO(webm)) as container:
        video = [frame for frame in container.decode(video=0)]
    with av.open(io.BytesIO(webm)) as container:
        sound = np.concatenate([first_channel(frame) for frame in container.decode(audio=0)])
    spectrum = np.abs(np.fft.rfft(sound.astype(np.float64)))
    bins = np.fft.rfftfreq(len(sound), 1 / 48_000)
    return {"frames": len(video), "size": (video[0].width, video[0].height),
            "seconds": float(video[-1].time - video[0].time),
            "loudest_hz": float(bins[np.argmax(spectrum[1:]) + 1])}


def test_vp8_keyframe_sizes_are_read_from_the_header() -> None:
    keyframe = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A]) + (640).to_bytes(2, "little") + (480).to_bytes(2, "little")
    assert vp8_size(keyframe) == (640, 480)
    assert vp8_size(bytes([0x11]) + keyframe[1:]) is None  # an inter frame
    assert vp8_size(b"\x10\x02") is None


def test_a_moderator_records_a_participant_and_a_scene(start_server, astronaut: np.ndarray) -> None:
    server = start_server(admin_token=TOKEN)

    async def scenario() -> dict:
        alice = SyntheticParticipant(server.url, "studio", "alice", FrameSourceTrack(lambda i: np.roll(astronaut, i % 7, 1)),
                                     audio=Tone(440), watch_others=False)
        results: dict = {}
        async with aiohttp.ClientSession() as http:
            async def call(method: str, path: str, body: dict | None = None, headers: dict | None = ADMIN):
                async with http.request(method, f"{server.url}{path}", json=body, headers=headers) as response:
                    data = await response.read()
                    kind = response.headers.get("Content-Type", "")
                    return response.status, (json.loads(data) if "json" in kind else data)

            try:
                await alice.join()
                await alice.wait_for_frames("self", 10)
                assert (await call("POST", "/api/rooms/studio/recordings", {"participant": "alice"}, None))[0] == 401
                assert (await call("POST", "/api/rooms/studio/recordings", {"participant": "nobody"}))[1]["error"] == \
                    "unknown_participant"
                assert (await call("POST", "/api/rooms/studio/recordings", {"view": "scene"}))[1]["error"] == "not_scene_mode"
                for bad in ({}, {"participant": "alice", "view": "scene"}, {"view": "stage"}, {"participant": 3}):
                    assert (await call("POST", "/api/rooms/studio/recordings", bad))[:1] == (400,), bad
                status, started = await call("POST", "/api/rooms/studio/recordings", {"participant": "alice"})
                assert status == 201 and started["state"] == "recording" and started["source_name"] == "alice"
                assert await eventually(lambda: alice.recording == [alice.id])  # she is told she is recorded
                late = SyntheticParticipant(server.url, "studio", "late", None, watch_others=False)
                await late.join()
                assert late.recording == [alice.id]  # and so is whoever joins while it lasts
                await late.leave()
                assert (await call("POST", "/api/rooms/studio/recordings", {"participant": alice.id}))[1]["error"] == \
                    "already_recording"
                assert (await call("GET", f"/api/recordings/{started['id']}/file"))[1]["error"] == "still_recording"
                assert "backdrop_recordings_active 1.0" in (await call("GET", "/metrics"))[1].decode()
                await asyncio.sleep(3.0)
                status, stopped = await call("POST", f"/api/recordings/{started['id']}/stop")
                assert status == 200 and (stopped["state"], stopped["reason"]) == ("stopped", "stopped")
                assert await eventually(lambda: alice.recording == [])
                assert "backdrop_recordings_active 0.0" in (await call("GET", "/metrics"))[1].decode()
                assert (await call("POST", f"/api/recordings/{started['id']}/stop"))[1]["error"] == "not_recording"
                status, webm = await call("GET", f"/api/recordings/{started['id']}/file")
                assert status == 200 and len(webm) == stopped["bytes"]
                results["participant"], results["participant_info"] = decoded(webm), stopped
                # A recording ends by itself when its source goes: here the scene, when the room leaves it.
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                    server.conference.configure_room("studio", RoomSettings(mode="scene", layout="cohost")), server.loop))
                status, scene = await call("POST", "/api/rooms/studio/recordings", {"view": "scene"})
                assert status == 201 and scene["source"] == "scene"
                await asyncio.sleep(2.5)
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                    server.conference.configure_room("studio", RoomSettings(mode="individual")), server.loop))
                recordings = server.app[RECORDINGS]
                assert await eventually(lambda: not recordings.is_active(scene["id"]))
                status, ended = await call("GET", f"/api/recordings/{scene['id']}")
                assert (ended["state"], ended["reason"]) == ("stopped", "source_ended")
                results["scene"] = decoded((await call("GET", f"/api/recordings/{scene['id']}/file"))[1])
                listed = (await call("GET", "/api/recordings"))[1]["recordings"]
                assert [r["id"] for r in listed] == [started["id"], scene["id"]]
                assert (await call("DELETE", f"/api/recordings/{scene['id']}"))[0] == 204
                assert (await call("GET", f"/api/recordings/{scene['id']}"))[0] == 404
            finally:
                await alice.leave()
        return results

    results = asyncio.run(scenario())
    participant = results["participant"]
    assert participant["size"] == (640, 480)
    assert 2.0 < participant["seconds"] < 4.0 and participant["frames"] > 45, participant  # 30 fps, from a keyframe
    assert abs(participant["loudest_hz"] - 440) < 5, participant  # her voice, in Opus
    assert results["participant_info"]["dropped"] == 0
    scene = results["scene"]
    assert scene["size"] == (960, 540) and scene["frames"] > 30 and abs(scene["loudest_hz"] - 440) < 5, scene
    # The descriptions survive a restart: a new store finds the one left.
    store = RecordingStore(server.settings.data_dir)
    assert [info.state for info in store.list()] == ["stopped"] and store.media_path(store.list()[0].id).exists()


def test_a_recording_cut_short_by_a_restart_is_marked_interrupted(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    running = store.create("studio", "abc", "ada")
    store.media_path(running.id).write_bytes(b"\x1a\x45\xdf\xa3" + bytes(100))  # what was written before the crash
    (tmp_path / "recordings" / "garbage.json").write_text("{not json")
    (again,) = RecordingStore(tmp_path).list()  # the unreadable description is skipped
    assert (again.id, again.state, again.reason, again.bytes) == (running.id, "interrupted", "server_restarted", 104)
    assert RecordingStore(tmp_path).delete(running.id) and not store.media_path(running.id).exists()


class FullDiskRecordingStore(RecordingStore):
    """A recording store whose media files lie on /dev/full, where every write fails as on a full
    disk (ENOSPC); the descriptions are written normally."""

    def media_path(self, recording_id: str) -> Path:
        path = self.folder / f"{recording_id}.webm"
        if not path.is_symlink():
            path.symlink_to("/dev/full")
        return path


def test_a_recording_that_cannot_be_written_fails_and_the_call_goes_on(start_server, tmp_path: Path,
                                                                       astronaut: np.ndarray) -> None:
    server = start_server()

    async def on_server(coroutine):
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, server.loop))

    async def scenario() -> None:
        alice = SyntheticParticipant(server.url, "studio", "alice", FrameSourceTrack(lambda i: np.roll(astronaut, i % 7, 1)),
                                     watch_others=False)
        try:
            await alice.join()
            await alice.wait_for_frames("self", 10)
            store = FullDiskRecordingStore(tmp_path / "full")
            recordings = Recordings(store, server.conference)
            info = await on_server(recordings.start("studio", "alice"))
            assert await eventually(lambda: alice.recording == [alice.id])
            # The first write of the muxer's 32 KB buffer fails: a few seconds of a still at a low bitrate.
            assert await eventually(lambda: recordings.active_count == 0, timeout=60)
            assert info.state == "failed" and "No space left on device" in info.reason
            assert store.get(info.id).state == "failed"  # kept so, for the admin to see
            assert await eventually(lambda: alice.recording == [])  # the room is told it is no longer recorded
            before = alice.received["self"].frames
            await asyncio.sleep(1.0)
            assert alice.received["self"].frames > before + 10  # the call went on
        finally:
            await alice.leave()

    asyncio.run(scenario())
