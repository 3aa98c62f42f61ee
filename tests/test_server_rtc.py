"""The real-time server with real aiortc peers on loopback (no mocks): rooms, composites, cleanup."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import cv2
import numpy as np
import pytest

from server.imaging.compositing import fit_background
from server.imaging.degradation import DegradationParams, degrade
from server.imaging.default_background import studio_background
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

from server.loadtest.participant import FrameSourceTrack, SyntheticParticipant
from server.rtc.room_figures import room_stats
from server.storage.room_settings import RoomSettings
from server.loadtest.sources import PacketLoopTrack, encode_loop
from tests.server_harness import ServerThread, eventually, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerThread:
    thread = ServerThread(tmp_path_factory.mktemp("data")).start()
    yield thread
    thread.stop()


def moving(image: np.ndarray):
    def make(index: int) -> np.ndarray:
        return np.roll(image, int(6 * np.sin(index / 8)), axis=1)
    return make


async def steady_capture(participant: SyntheticParticipant, label: str, degradation_of, settle: float = 0.6,
                         timeout: float = 20.0) -> tuple[np.ndarray, dict]:
    """Catch the latest image of ``label`` while the server's reported degradation holds still.

    ``degradation_of()`` reads the parameters of the sender's latest composite. Early in a call the
    uplink's bitrate still moves the level, and the image caught and the figures read a moment later can
    belong to different levels; an image caught with the same parameters reported ``settle`` seconds
    before and after it (longer than a frame takes to reach the receiver) is known to show them.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = [degradation_of()]
        for _ in range(int(settle / 0.05)):
            await asyncio.sleep(0.05)
            seen.append(degradation_of())
        image = participant.received[label].last_image.copy()
        for _ in range(int(settle / 0.05)):
            await asyncio.sleep(0.05)
            seen.append(degradation_of())
        if all(d == seen[0] for d in seen):
            return image, seen[0]
    raise AssertionError(f"{participant.name}: the degradation of {label} never held still for "
                         f"{2 * settle} s within {timeout} s")


def test_participants_see_their_own_and_each_others_composites(server: ServerThread, astronaut: np.ndarray) -> None:
    async def scenario() -> None:
        alice = SyntheticParticipant(server.url, "room-a", "alice", FrameSourceTrack(moving(astronaut)))
        bob = SyntheticParticipant(server.url, "room-a", "bob", FrameSourceTrack(moving(astronaut)))
        try:
            await alice.join()
            await bob.join()
            await alice.wait_for_frames("bob", 10)
            await bob.wait_for_frames("self", 10)
            # Well past the start, when the uplink's bitrate has ramped up and the mask has settled.
            await alice.wait_for_frames("self", 60)
            await bob.wait_for_frames("alice", 60)
            virtual = fit_background(studio_background(), 640, 480)
            # Both images are alice's composite: her background is the virtual one degraded to her
            # stream's estimated quality, with the parameters the server reports for her.
            stats = next(p.stats for p in server.conference.participants.values() if p.name == "alice")
            for participant, label in ((alice, "self"), (bob, "alice")):
                image, degradation = await steady_capture(participant, label, lambda: dict(stats.degradation))
                shown = degrade(virtual, DegradationParams(**degradation)) if degradation else virtual
                assert image.shape == astronaut.shape
                # Background replaced: the top corners (flag, shuttle) show the matched virtual background.
                for corner in (np.s_[:60, :60], np.s_[:60, -60:]):
                    to_virtual = np.abs(image[corner].astype(float) - shown[corner]).mean()
                    to_camera = np.abs(image[corner].astype(float) - astronaut[corner]).mean()
                    assert to_virtual < 0.5 * to_camera, (to_virtual, to_camera, degradation)
                # The person is still there: the face is the camera's, not the virtual background.
                # Compared at 1/8 scale with the camera at the nearest of the source's +-6 px pans.
                def small(x: np.ndarray) -> np.ndarray:
                    return cv2.resize(x, (80, 60), interpolation=cv2.INTER_AREA).astype(float)

                face = np.s_[9:17, 29:40]
                shown_face = small(image)[face]
                to_camera = min(np.abs(shown_face - small(np.roll(astronaut, shift, axis=1))[face]).mean()
                                for shift in range(-6, 7))
                assert to_camera < 0.3 * np.abs(shown_face - small(virtual)[face]).mean(), to_camera
        finally:
            await alice.leave()
            await bob.leave()

    asyncio.run(scenario())
    assert wait_until(lambda: not server.conference.participants)


def test_a_participant_may_blur_their_own_room_instead_of_replacing_it(server: ServerThread,
                                                                       astronaut: np.ndarray) -> None:
    """"Blur my room" from the picker: the composite's background is the camera's own room, blurred; a
    shared scene, one background for all, falls back to the default there."""
    def small(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (80, 60), interpolation=cv2.INTER_AREA).astype(float)

    corners = (np.s_[:8, :8], np.s_[:8, -8:])  # the flag and the shuttle, 64 px square, at 1/8 scale
    virtual, camera = small(fit_background(studio_background(), 640, 480)), small(astronaut)

    async def scenario() -> None:
        alice = SyntheticParticipant(server.url, "own-room", "alice", FrameSourceTrack(moving(astronaut)))
        try:
            await alice.join()
            assert "builtin:blur" in [b.id for b in server.conference.backgrounds.list()]  # in every picker
            await alice.wait_for_frames("self", 10)
            await alice.send({"type": "background", "background": "builtin:blur"})
            participant = next(p for p in server.conference.participants.values() if p.name == "alice")
            assert await eventually(lambda: participant.applied_background == "builtin:blur")
            await asyncio.sleep(1.0)
            shown = small(alice.received["self"].last_image)
            for corner in corners:
                to_room = np.abs(shown[corner] - cv2.GaussianBlur(camera, (0, 0), 2.5)[corner]).mean()
                assert to_room < 0.4 * np.abs(shown[corner] - virtual[corner]).mean(), to_room
                # Blurred: far less detail than the camera's own corner.
                assert shown[corner].std() < 0.7 * camera[corner].std()
            await asyncio.to_thread(server.call, server.conference.configure_room(
                "own-room", RoomSettings(background_id="builtin:blur", mode="scene")))
            assert server.conference.scenes["own-room"].background_key == "builtin:studio"
        finally:
            await alice.leave()

    asyncio.run(scenario())
    assert wait_until(lambda: not server.conference.participants)


def test_late_joiner_gets_video_within_a_second(server: ServerThread, astronaut: np.ndarray) -> None:
    async def scenario() -> float:
        early = SyntheticParticipant(server.url, "room-late", "early", FrameSourceTrack(moving(astronaut)))
        late = SyntheticParticipant(server.url, "room-late", "late", None)
        try:
            await early.join()
            await early.wait_for_frames("self", 60)  # the stream is well past its first keyframe
            started = time.monotonic()
            await late.join()
            stream = await late.wait_for_frames("early", 1, timeout=10)
            return stream.first_at - started
        finally:
            await early.leave()
            await late.leave()

    assert asyncio.run(scenario()) < 1.0


def test_a_synthetic_participant_watches_someone_once_however_often_asked(server: ServerThread,
                                                                          astronaut: np.ndarray) -> None:
    """Someone joining while a synthetic participant joins is both announced and listed: it must not
    subscribe twice, or the two offers' answers cross and nothing plays."""
    async def scenario() -> None:
        early = SyntheticParticipant(server.url, "room-twice", "early", FrameSourceTrack(moving(astronaut)))
        watcher = SyntheticParticipant(server.url, "room-twice", "watcher", None, watch_others=False)
        try:
            await early.join()
            await watcher.join()
            await asyncio.gather(watcher.subscribe(early.id, "early"), watcher.subscribe(early.id, "early"))
            await watcher.wait_for_frames("early", 20, timeout=15)
            viewer_pcs = server.conference.find("room-twice", "watcher").viewer_pcs
            assert list(viewer_pcs) == [early.id]
        finally:
            await early.leave()
            await watcher.leave()

    asyncio.run(scenario())


def test_leaving_releases_everything(server: ServerThread, astronaut: np.ndarray) -> None:
    async def scenario() -> None:
        alice = SyntheticParticipant(server.url, "room-c", "alice", FrameSourceTrack(moving(astronaut)))
        bob = SyntheticParticipant(server.url, "room-c", "bob", FrameSourceTrack(moving(astronaut)))
        await alice.join()
        await bob.join()
        await alice.wait_for_frames("bob", 5)
        await bob.leave()
        await asyncio.sleep(1.0)
        assert "bob" not in alice.others.values()
        await alice.leave()

    asyncio.run(scenario())
    assert wait_until(lambda: not server.conference.participants and not server.conference.directory.rooms())
    assert wait_until(lambda: sum(server.pool.occupancy().values()) == 0)


def test_a_resizing_stream_disturbs_nobody(server: ServerThread, astronaut: np.ndarray) -> None:
    small = cv2.resize(astronaut, (320, 240))

    def resizing(index: int) -> np.ndarray:
        return astronaut if (index // 20) % 2 == 0 else small

    async def scenario() -> None:
        steady = SyntheticParticipant(server.url, "room-d", "steady", FrameSourceTrack(moving(astronaut)))
        odd = SyntheticParticipant(server.url, "room-d", "odd", FrameSourceTrack(resizing))
        watcher = SyntheticParticipant(server.url, "room-d", "watcher", None)
        try:
            await steady.join()
            await odd.join()
            await watcher.join()
            try:
                before = (await watcher.wait_for_frames("steady", 10)).frames
            except TimeoutError as error:
                streams = server.call(_describe(server))
                client = {k: pc.connectionState for k, pc in watcher._pcs.items()}
                viewer = server.conference.participants[watcher.id]
                remote = {k: pc.connectionState for k, pc in viewer.viewer_pcs.items()}
                raise AssertionError(f"{error}; client pcs {client}; server pcs {remote}; pool {server.pool.stats}; "
                                     f"streams {streams}") from None
            await asyncio.sleep(3.0)  # the odd stream switches size several times meanwhile
            after = watcher.received["steady"].frames
            assert after - before > 30  # ~3 s of steady video kept flowing
            odd_stream = await watcher.wait_for_frames("odd", 20)
            assert odd_stream.last_image is not None
        finally:
            for participant in (steady, odd, watcher):
                await participant.leave()

    asyncio.run(scenario())


def test_bad_signaling_gets_clear_errors_and_the_session_survives(server: ServerThread) -> None:
    async def scenario() -> list[dict]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.url}/ws") as ws:
                replies = []
                for message in ("not json", {"type": "publish", "sdp": "v=0"}, {"type": "join", "room": "../x", "name": "a"},
                                {"type": "dance"}, {"type": "join", "room": "ok-room", "name": "ann"},
                                {"type": "publish", "sdp": "garbage"}, {"type": "subscribe", "participant": "nobody", "sdp": "v=0"},
                                {"type": "background", "background": "builtin:nope"}):
                    await (ws.send_str(message) if isinstance(message, str) else ws.send_json(message))
                    replies.append(await asyncio.wait_for(ws.receive_json(), 10))
                await ws.send_json({"type": "leave"})
                return replies

    replies = asyncio.run(scenario())
    assert [r.get("error") or r["type"] for r in replies] == [
        "bad_json", "not_joined", "bad_room", "unknown_type", "joined", "bad_offer", "unknown_participant",
        "unknown_background"]
    assert wait_until(lambda: not server.conference.participants)


def test_health_and_readiness(server: ServerThread) -> None:
    async def scenario() -> tuple[int, int]:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.url}/healthz") as health, session.get(f"{server.url}/readyz") as ready:
                return health.status, ready.status

    assert asyncio.run(scenario()) == (200, 200)


async def _describe(server: ServerThread) -> dict:
    return {state.name: room_stats(server.conference, state.name) for state in server.conference.directory.rooms()}


def corrupted(packets: list) -> list:
    """The same packets with their payload after the first 10 bytes replaced by noise."""
    rng = np.random.default_rng(3)
    return [type(p)(p.data[:10] + rng.integers(0, 256, max(0, len(p.data) - 10), dtype=np.uint8).tobytes(),
                    p.pts, p.keyframe) for p in packets]


def test_a_corrupt_stream_disturbs_nobody(server: ServerThread, astronaut: np.ndarray) -> None:
    packets = encode_loop([np.roll(astronaut, i, axis=1) for i in range(30)], 600_000)

    async def scenario() -> None:
        steady = SyntheticParticipant(server.url, "room-e", "steady", FrameSourceTrack(moving(astronaut)))
        broken = SyntheticParticipant(server.url, "room-e", "broken", PacketLoopTrack(corrupted(packets)))
        watcher = SyntheticParticipant(server.url, "room-e", "watcher", None)
        try:
            for participant in (steady, broken, watcher):
                await participant.join()
            before = (await watcher.wait_for_frames("steady", 10)).frames
            await asyncio.sleep(3.0)
            assert watcher.received["steady"].frames - before > 30
        finally:
            for participant in (steady, broken, watcher):
                await participant.leave()

    asyncio.run(scenario())
    assert wait_until(lambda: not server.conference.participants)


@pytest.mark.parametrize("speaker_first", [True, False], ids=["speaker-first", "listener-first"])
def test_microphones_reach_the_others(server: ServerThread, astronaut: np.ndarray, speaker_first: bool) -> None:
    """Listener first: the listener subscribes as soon as the speaker joins, before the speaker's
    microphone has reached the server, and the voice still comes through once it does."""
    async def scenario() -> dict:
        room = f"room-voice-{speaker_first}"
        speaker = SyntheticParticipant(server.url, room, "speaker", FrameSourceTrack(moving(astronaut)),
                                       audio=AudioStreamTrack())
        listener = SyntheticParticipant(server.url, room, "listener", None)
        try:
            for participant in ((speaker, listener) if speaker_first else (listener, speaker)):
                await participant.join()
            await listener.wait_for_frames("speaker", 5)
            await asyncio.sleep(1.0)
            return dict(listener.audio_frames)
        finally:
            await speaker.leave()
            await listener.leave()

    frames = asyncio.run(scenario())
    assert frames.get("speaker", 0) > 20, frames  # 20 ms frames: well over 0.4 s of audio arrived


class StoppingTrack(FrameSourceTrack):
    """A camera that ends after ``frames`` frames."""

    def __init__(self, make_frame, frames: int) -> None:
        super().__init__(make_frame)
        self._limit = frames

    async def recv(self):
        if self._index >= self._limit:
            self.stop()
            raise MediaStreamError
        return await super().recv()


def test_a_stopping_stream_and_a_vanishing_client_disturb_nobody(server: ServerThread, astronaut: np.ndarray) -> None:
    async def scenario() -> None:
        steady = SyntheticParticipant(server.url, "room-g", "steady", FrameSourceTrack(moving(astronaut)))
        stopper = SyntheticParticipant(server.url, "room-g", "stopper", StoppingTrack(moving(astronaut), 20))
        await steady.join()
        await stopper.join()
        async with aiohttp.ClientSession() as session:  # a client that joins and vanishes without leaving
            ws = await session.ws_connect(f"{server.url}/ws")
            await ws.send_json({"type": "join", "room": "room-g", "name": "ghost"})
            await ws.receive_json()
            await ws.close()
        try:
            before = (await stopper.wait_for_frames("steady", 10)).frames
            await asyncio.sleep(3.0)  # the stopper's camera has ended meanwhile
            assert stopper.received["steady"].frames - before > 30
            assert "ghost" not in [p.name for p in server.conference.participants.values()]
        finally:
            await steady.leave()
            await stopper.leave()

    asyncio.run(scenario())
    assert wait_until(lambda: not server.conference.participants)
    assert wait_until(lambda: sum(server.pool.occupancy().values()) == 0)


def test_a_participant_whose_connection_ends_is_told_and_may_join_again(server: ServerThread,
                                                                         astronaut: np.ndarray) -> None:
    async def scenario() -> None:
        alice = SyntheticParticipant(server.url, "room-h", "alice", FrameSourceTrack(moving(astronaut)))
        bob = SyntheticParticipant(server.url, "room-h", "bob", FrameSourceTrack(moving(astronaut)))
        await alice.join()
        await bob.join()
        try:
            await bob.wait_for_frames("alice", 5)
            first_id = alice.id
            # The server loses alice's publish connection (as when ICE fails): she is removed and told.
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                server.conference.participants[first_id].publish_pc.close(), server.loop))
            assert await eventually(lambda: alice.removed is not None)
            assert alice.removed == "publish_connection_closed"
            assert first_id not in server.conference.participants
            assert await eventually(lambda: first_id not in bob.others)
            # The same signaling socket joins again, as the browser page does when it reconnects.
            await alice.send({"type": "join", "room": "room-h", "name": "alice"})
            assert await eventually(lambda: alice.id != first_id or bool(alice.errors))
            assert not alice.errors, alice.errors
            assert alice.id in server.conference.participants
            assert await eventually(lambda: bob.others.get(alice.id) == "alice")
        finally:
            await alice.leave()
            await bob.leave()

    asyncio.run(scenario())
    assert wait_until(lambda: not server.conference.participants)


def test_muting_is_relayed_to_the_room_and_bad_values_are_refused(server: ServerThread, astronaut: np.ndarray) -> None:
    async def scenario() -> None:
        alice = SyntheticParticipant(server.url, "room-i", "alice", FrameSourceTrack(moving(astronaut)))
        bob = SyntheticParticipant(server.url, "room-i", "bob", None)
        await alice.join()
        await bob.join()
        try:
            await alice.send({"type": "media", "microphone": False})
            assert await eventually(lambda: alice.id in bob.media)
            assert bob.media[alice.id] == {"microphone": False, "camera": True, "by": "participant"}
            assert await eventually(lambda: alice.id in alice.media)  # the sender hears it too
            await alice.send({"type": "media", "camera": False, "microphone": True})
            assert await eventually(lambda: bob.media[alice.id] == {"microphone": True, "camera": False,
                                                                    "by": "participant"})
            record = server.conference.participants[alice.id]
            assert (record.microphone_on, record.camera_on) == (True, False)
            # A late joiner learns it from the room's list.
            carol = SyntheticParticipant(server.url, "room-i", "carol", None, watch_others=False)
            await carol.join()
            try:
                async with aiohttp.ClientSession() as session:
                    async with session.ws_connect(f"{server.url}/ws") as ws:
                        await ws.send_json({"type": "join", "room": "room-i", "name": "dave"})
                        joined = await ws.receive_json()
                        listed = {p["name"]: p for p in joined["participants"]}
                        assert (listed["alice"]["microphone"], listed["alice"]["camera"]) == (True, False)
                        assert (listed["bob"]["microphone"], listed["bob"]["camera"]) == (True, True)
                        await ws.send_json({"type": "media", "microphone": "off"})
                        while (reply := await ws.receive_json())["type"] != "error":
                            pass
                        assert reply["error"] == "bad_media" and reply["request"] == "media"
            finally:
                await carol.leave()
        finally:
            await alice.leave()
            await bob.leave()

    asyncio.run(scenario())
    assert wait_until(lambda: not server.conference.participants)


class ToneTrack(AudioStreamTrack):
    """A microphone playing a 440 Hz tone at about a quarter of full scale."""

    async def recv(self):
        frame = await super().recv()
        t = (frame.pts + np.arange(frame.samples)) / frame.sample_rate
        frame.planes[0].update((8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).tobytes())
        return frame


def test_muting_is_enforced_by_the_server_even_if_the_client_keeps_sending(server: ServerThread,
                                                                           astronaut: np.ndarray) -> None:
    """A client that says it muted and stopped its camera but still sends both (a broken or hostile
    page): the room hears silence and sees the bare background at a couple of frames a second."""
    virtual = fit_background(studio_background(), 640, 480).astype(float)

    async def window(listener: SyntheticParticipant, seconds: float = 2.0) -> tuple[int, int, float]:
        """Frames of the speaker received in ``seconds``, the loudest recent audio, and how far the
        latest picture is from the virtual background relative to the camera's picture."""
        before = listener.received["speaker"].frames
        await asyncio.sleep(seconds)
        image = listener.received["speaker"].last_image.astype(float)
        to_virtual = np.abs(image - virtual).mean()
        to_camera = np.abs(image - astronaut).mean()
        return (listener.received["speaker"].frames - before, max(list(listener.audio_peaks["speaker"])[-10:]),
                to_virtual / to_camera)

    async def scenario() -> list[tuple[int, int, float]]:
        speaker = SyntheticParticipant(server.url, "room-j", "speaker", FrameSourceTrack(lambda index: astronaut),
                                       audio=ToneTrack())
        listener = SyntheticParticipant(server.url, "room-j", "listener", None)
        try:
            await speaker.join()
            await listener.join()
            await listener.wait_for_frames("speaker", 10)
            await asyncio.sleep(1.0)
            figures = [await window(listener)]
            await speaker.send({"type": "media", "microphone": False, "camera": False})
            await asyncio.sleep(1.0)
            figures.append(await window(listener))
            await speaker.send({"type": "media", "microphone": True, "camera": True})
            await asyncio.sleep(1.0)
            figures.append(await window(listener))
            return figures
        finally:
            await speaker.leave()
            await listener.leave()

    (frames_on, loud_on, picture_on), (frames_off, loud_off, picture_off), (frames_back, loud_back, _) = \
        asyncio.run(scenario())
    assert frames_on > 30 and frames_back > 30, (frames_on, frames_back)
    assert 1 <= frames_off <= 8, frames_off  # CAMERA_OFF_FPS: 2 a second
    assert loud_on > 4000 and loud_back > 4000, (loud_on, loud_back)
    assert loud_off < 100, loud_off
    assert picture_off < 0.3 < picture_on, (picture_on, picture_off)  # the person gone, the backdrop left


def test_the_room_is_told_who_is_speaking(server: ServerThread, astronaut: np.ndarray) -> None:
    """A speaker's voice lights them up for everyone (themselves included); muting puts it out."""
    async def scenario() -> tuple[SyntheticParticipant, SyntheticParticipant, float]:
        speaker = SyntheticParticipant(server.url, "room-voices", "speaker", FrameSourceTrack(moving(astronaut)),
                                       audio=ToneTrack())
        listener = SyntheticParticipant(server.url, "room-voices", "listener", FrameSourceTrack(moving(astronaut)),
                                        audio=AudioStreamTrack())  # a microphone that hears nothing
        try:
            await listener.join()
            await speaker.join()
            assert await eventually(lambda: (speaker.id, True) in [(i, s) for _, i, s in listener.speaking])
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{server.url}/metrics") as response:
                    assert "backdrop_speaking_participants 1.0" in await response.text()
            await speaker.send({"type": "media", "microphone": False})
            muted_at = time.monotonic()
            assert await eventually(lambda: listener.speaking[-1][1:] == (speaker.id, False))
            return speaker, listener, listener.speaking[-1][0] - muted_at
        finally:
            await speaker.leave()
            await listener.leave()

    speaker, listener, off_after = asyncio.run(scenario())
    assert [(i, s) for _, i, s in listener.speaking] == [(speaker.id, True), (speaker.id, False)]  # the silent one never
    assert [(i, s) for _, i, s in speaker.speaking][:2] == [(speaker.id, True), (speaker.id, False)]
    assert off_after < 2.0, off_after


def test_a_stopping_server_closes_its_signaling_sockets_going_away(tmp_path, astronaut: np.ndarray) -> None:
    """Stopping closes every signaling socket with 1001 (going away), so clients reconnect at once and
    the server does not wait for them; its participants leave."""
    server = ServerThread(tmp_path / "data", workers=1).start()

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.url}/ws") as ws:
                await ws.send_json({"type": "join", "room": "closing", "name": "alice"})
                assert (await ws.receive_json(timeout=10))["type"] == "joined"
                await asyncio.to_thread(server.stop)
                message = await ws.receive(timeout=10)
                while message.type == aiohttp.WSMsgType.TEXT:  # stats pushed meanwhile
                    message = await ws.receive(timeout=10)
                assert message.type == aiohttp.WSMsgType.CLOSE and message.data == 1001
        assert not server.conference.participants

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
