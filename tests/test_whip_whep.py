"""WHIP ingest and WHEP playback with real third-party and aiortc clients on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import deque

import aiohttp
import aioice.ice
import cv2
import numpy as np
import pytest
from aiortc import RTCCertificate, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError
from aiortc.rtcdtlstransport import generate_certificate
from cryptography.hazmat.primitives.asymmetric import rsa

from server.imaging.compositing import fit_background
from server.imaging.default_background import studio_background
from server.loadtest.participant import FrameSourceTrack, SyntheticParticipant
from server.loadtest.whip_publisher import load_footage
from server.rtc.peers import close_quietly
from server.web.join_tokens import issue_join_token
from server.web.keys import MEDIA_SESSIONS
from tests.server_harness import ServerThread, wait_until

pytestmark = pytest.mark.slow

JOIN_SECRET = "whip-join-secret-0123456789abcdef-xyz"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerThread:
    thread = ServerThread(tmp_path_factory.mktemp("data"), whip_media_timeout=2.0).start()
    yield thread
    thread.stop()


def ffmpeg_publisher(url: str, seconds: float, *extra: str) -> subprocess.Popen:
    """FFmpeg's WHIP muxer (PyAV) publishing the talking-head sample, in its own process."""
    return subprocess.Popen([sys.executable, "-m", "server.loadtest.whip_publisher", url, "--seconds", str(seconds),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)




def replaced_background(image: np.ndarray, footage: list[np.ndarray]) -> bool:
    """The top-left corner (the car's window in the sample, never the person) shows the virtual backdrop."""
    virtual = fit_background(studio_background(), image.shape[1], image.shape[0])
    corner = np.s_[:80, :80]
    to_virtual = np.abs(image[corner].astype(float) - virtual[corner]).mean()
    to_camera = min(np.abs(image[corner].astype(float) - f[corner]).mean() for f in footage)
    return to_virtual < 0.5 * to_camera


class WhepPlayer:
    """An aiortc WHEP client counting and keeping the frames it plays."""

    def __init__(self, url: str, headers: dict | None = None, video: bool = True) -> None:
        self.url, self.headers, self.video = url, headers or {}, video
        self.pc = RTCPeerConnection()
        self.frames = 0
        self.last_image: np.ndarray | None = None
        self.location: str | None = None
        self.sound: deque[np.ndarray] = deque(maxlen=50)  # the last second of audio, 20 ms frames (mono)
        self._task: asyncio.Task | None = None
        self._audio_task: asyncio.Task | None = None

    async def start(self) -> aiohttp.ClientResponse:
        if self.video:
            self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.on("track", lambda track: self._consume(track) if track.kind == "video" else self._listen(track))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with aiohttp.ClientSession() as http:
            async with http.post(self.url, data=self.pc.localDescription.sdp,
                                 headers={"Content-Type": "application/sdp", **self.headers}) as response:
                body = await response.text()
                if response.status == 201:
                    self.location = response.headers["Location"]
                    await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
                return response

    def _consume(self, track) -> None:
        async def run() -> None:
            try:
                while True:
                    frame = await track.recv()
                    self.frames += 1
                    self.last_image = frame.to_ndarray(format="bgr24")
            except MediaStreamError:
                pass
        self._task = asyncio.ensure_future(run())

    def _listen(self, track) -> None:
        async def run() -> None:
            try:
                while True:
                    frame = await track.recv()
                    samples = frame.to_ndarray().astype(np.float64).reshape(-1, len(frame.layout.channels))
                    self.sound.append(samples.mean(axis=1))
            except MediaStreamError:
                pass
        self._audio_task = asyncio.ensure_future(run())

    async def wait_for(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.frames < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.frames}/{count} WHEP frames")
            await asyncio.sleep(0.05)

    async def stop(self, delete: bool = True) -> int | None:
        status = None
        if delete and self.location:
            async with aiohttp.ClientSession() as http:
                async with http.delete(self.location, headers=self.headers) as response:
                    status = response.status
        for task in (self._task, self._audio_task):
            if task:
                task.cancel()
        await close_quietly(self.pc)
        return status


def test_ffmpeg_publishes_over_whip_and_whep_plays_the_composite(server: ServerThread) -> None:
    footage = load_footage(None, 640, 480, limit=120)
    publisher = ffmpeg_publisher(f"{server.url}/whip/studio?name=anchor", 12)

    async def scenario() -> None:
        assert await asyncio.to_thread(wait_until, lambda: server.conference.find("studio", "anchor") is not None)
        anchor = server.conference.find("studio", "anchor")
        assert await asyncio.to_thread(wait_until, lambda: anchor.stats.frames_out > 10)
        assert anchor.codec == "h264" and anchor.stats.codec == "h264"
        viewer = SyntheticParticipant(server.url, "studio", "viewer", None)  # a browser-like room member
        player = WhepPlayer(f"{server.url}/whep/studio?participant=anchor")
        try:
            await viewer.join()
            response = await player.start()
            assert response.status == 201 and response.content_type == "application/sdp"
            await player.wait_for(45)
            seen = await viewer.wait_for_frames("anchor", 30)
            for image in (player.last_image, seen.last_image):
                assert image.shape == (480, 640, 3)
                assert replaced_background(image, footage)
            assert anchor.broadcast.viewers == 2  # the room member and the WHEP player share one encoder
            assert 0.0 < anchor.stats.quality < 1.0
            assert await player.stop() == 200
            assert await asyncio.to_thread(wait_until, lambda: anchor.broadcast.viewers == 1)
        finally:
            await viewer.leave()

    asyncio.run(scenario())
    output, _ = publisher.communicate(timeout=60)
    assert publisher.returncode == 0, output
    # The publisher's DELETE ended its session: nothing is left behind.
    assert wait_until(lambda: not server.conference.participants and len(server.app[MEDIA_SESSIONS]) == 0)
    assert server.pool.occupancy() == {0: 0, 1: 0}


def test_a_silent_publisher_is_gone_after_its_media_stops(server: ServerThread) -> None:
    publisher = ffmpeg_publisher(f"{server.url}/whip/quiet?name=crashy", 3, "--stop-without-delete")
    try:
        assert wait_until(lambda: (p := server.conference.find("quiet", "crashy")) is not None and p.stats.frames_out > 5)
        stopped = None
        for line in publisher.stdout:
            if "going silent" in line:
                stopped = time.monotonic()
                break
        assert stopped is not None
        assert wait_until(lambda: server.conference.find("quiet", "crashy") is None, timeout=10)
        gone_after = time.monotonic() - stopped
        assert 1.5 < gone_after < 5.0, gone_after  # media timeout 2 s (+ the 0.5 s check period)
        assert len(server.app[MEDIA_SESSIONS]) == 0
    finally:
        publisher.kill()
        publisher.wait()


def test_a_publisher_that_ignores_consent_checks_stays_connected(server: ServerThread, monkeypatch) -> None:
    # Consent checks every ~0.3 s: aioice alone would drop FFmpeg (which never answers) after ~2 s.
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.3)
    publisher = ffmpeg_publisher(f"{server.url}/whip/long?name=marathon", 8)
    try:
        assert wait_until(lambda: (p := server.conference.find("long", "marathon")) is not None and p.stats.frames_out > 0)
        participant = server.conference.find("long", "marathon")
        time.sleep(4.0)
        before = participant.stats.frames_in
        time.sleep(1.5)
        assert server.conference.find("long", "marathon") is participant
        assert participant.stats.frames_in - before > 30  # still receiving about 30 fps
        assert publisher.wait(30) == 0
    finally:
        publisher.kill()


def rsa_certificate() -> RTCCertificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return RTCCertificate(key=key, cert=generate_certificate(key))


async def aiortc_whip_publish(url: str, image: np.ndarray, trickle: bool = False, rsa_cert: bool = False,
                              headers: dict | None = None) -> tuple[RTCPeerConnection, aiohttp.ClientResponse, str]:
    """Publish VP8 + Opus with aiortc, optionally trickling its candidates with PATCH afterwards, and
    optionally with an RSA DTLS certificate (as GStreamer has)."""
    pc = RTCPeerConnection()
    if rsa_cert:
        pc._RTCPeerConnection__certificates = [rsa_certificate()]  # type: ignore[attr-defined]
    pc.addTransceiver(FrameSourceTrack(lambda i: np.roll(image, i % 7, axis=1)), direction="sendonly")
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    candidates = [line for line in sdp.splitlines() if line.startswith("a=candidate:")]
    if trickle:
        sdp = "\r\n".join(line for line in sdp.split("\r\n")
                          if not line.startswith("a=candidate:") and line != "a=end-of-candidates")
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=sdp, headers={"Content-Type": "application/sdp", **(headers or {})}) as response:
            body = await response.text()
            if response.status != 201:
                await pc.close()
                return pc, response, body
            location = response.headers["Location"]
            if trickle:
                fragment = "a=mid:0\r\n" + "\r\n".join(candidates) + "\r\na=end-of-candidates\r\n"
                async with http.patch(location, data=fragment,
                                      headers={"Content-Type": "application/trickle-ice-sdpfrag",
                                               **(headers or {})}) as patched:
                    assert patched.status == 204
            await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
            return pc, response, location


@pytest.mark.parametrize("trickle, rsa_cert", [(True, False), (False, True)], ids=["trickled-ice", "rsa-dtls"])
def test_vp8_opus_publishers_with_trickled_candidates_or_an_rsa_certificate(
        server: ServerThread, astronaut: np.ndarray, trickle: bool, rsa_cert: bool) -> None:
    async def scenario() -> None:
        pc, response, location = await aiortc_whip_publish(f"{server.url}/whip/interop?name=gst&probe=1",
                                                           astronaut, trickle=trickle, rsa_cert=rsa_cert)
        try:
            assert response.status == 201, location
            participant = server.conference.find("interop", "gst")
            deadline = time.monotonic() + 20
            while participant.stats.frames_out < 15:
                assert time.monotonic() < deadline, "no composites from the aiortc WHIP publisher"
                await asyncio.sleep(0.1)
            assert participant.codec == "vp8" and participant.probe and participant.audio is not None
            async with aiohttp.ClientSession() as http:
                async with http.delete(location) as deleted:
                    assert deleted.status == 200
                async with http.delete(location) as again:
                    assert again.status == 404
            assert server.conference.find("interop", "gst") is None
        finally:
            await pc.close()

    asyncio.run(scenario())


def test_http_errors_and_nothing_leaks(server: ServerThread) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            async def status(method: str, path: str, body: str = "", content_type: str = "application/sdp") -> tuple:
                async with http.request(method, f"{server.url}{path}", data=body,
                                        headers={"Content-Type": content_type}) as response:
                    payload = await response.json() if response.content_type == "application/json" else {}
                    return response.status, payload.get("error")

            assert await status("POST", "/whip/r", "v=0", "text/plain") == (415, "unsupported_media_type")
            assert (await status("POST", "/whip/r", "hello"))[0] == 400
            assert (await status("POST", "/whip/r", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=nonsense"))[0] == 400
            assert (await status("POST", "/whip/bad%20room!", "v=0"))[0] == 400
            assert (await status("POST", "/whip/r", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n" + "a=x\r\n" * 20000)
                    ) == (413, "too_large")
            assert (await status("PATCH", "/whip/r/nope", "a=end-of-candidates", "application/trickle-ice-sdpfrag")
                    )[0] == 404
            assert (await status("DELETE", "/whip/r/nope"))[0] == 404
            assert (await status("DELETE", "/whep/r/nope"))[0] == 404
            assert (await status("POST", "/whep/r?participant=nobody", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n")
                    )[0] == 404
            async with http.options(f"{server.url}/whip/r", headers={
                    "Origin": "https://encoder.example", "Access-Control-Request-Method": "POST"}) as preflight:
                assert preflight.status == 204
                assert preflight.headers["Access-Control-Allow-Origin"] == "*"
                assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
            assert await status("POST", "/whep/r?view=scene", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n") == (
                409, "not_scene_mode")

    asyncio.run(scenario())
    assert not server.conference.participants and len(server.app[MEDIA_SESSIONS]) == 0
    assert sum(server.pool.occupancy().values()) == 0


def test_join_tokens_guard_whip_and_whep(start_server, astronaut: np.ndarray) -> None:
    secured = start_server(workers=1, join_secret=JOIN_SECRET)

    def bearer(room: str, identity: str, ttl: int = 600) -> dict:
        return {"Authorization": f"Bearer {issue_join_token(JOIN_SECRET, room, identity, ttl)}"}

    async def scenario() -> None:
        url = f"{secured.url}/whip/vault"
        for headers, expected in (({}, 401), ({"Authorization": "Bearer forged"}, 401),
                                  (bearer("elsewhere", "x"), 403)):
            _, response, _ = await aiortc_whip_publish(url, astronaut, headers=headers)
            assert response.status == expected
        assert not secured.conference.participants
        pc, response, location = await aiortc_whip_publish(url, astronaut, headers=bearer("vault", "Keeper"))
        try:
            assert response.status == 201
            assert secured.conference.find("vault", "Keeper") is not None  # named by the token's identity
            refused = WhepPlayer(f"{secured.url}/whep/vault?participant=Keeper")
            assert (await refused.start()).status == 401
            await refused.stop(delete=False)
            player = WhepPlayer(f"{secured.url}/whep/vault?participant=Keeper", bearer("vault", "watcher"))
            assert (await player.start()).status == 201
            await player.wait_for(10)
            await player.stop()
            async with aiohttp.ClientSession() as http:
                async with http.delete(location) as anonymous:
                    assert anonymous.status == 401
                async with http.delete(location, headers=bearer("vault", "Keeper")) as deleted:
                    assert deleted.status == 200
        finally:
            await pc.close()

    asyncio.run(scenario())


def test_a_publisher_that_answered_consent_and_then_stops_is_dropped(server: ServerThread, astronaut: np.ndarray,
                                                                     monkeypatch) -> None:
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.3)

    async def scenario() -> None:
        pc, response, location = await aiortc_whip_publish(f"{server.url}/whip/fresh?name=answerer", astronaut)
        try:
            assert response.status == 201
            participant = server.conference.find("fresh", "answerer")
            await asyncio.sleep(2.0)  # several consent checks, all answered
            assert server.conference.find("fresh", "answerer") is participant
            # The peer stops answering STUN (as if its network vanished) while its media keeps flowing.
            connection = pc.getTransceivers()[0].sender.transport.transport._connection
            connection.request_received = lambda *args, **kwargs: None
            deadline = time.monotonic() + 10
            while server.conference.find("fresh", "answerer") is not None or len(server.app[MEDIA_SESSIONS]):
                assert time.monotonic() < deadline, "consent expiry did not end the session"
                await asyncio.sleep(0.1)
        finally:
            await pc.close()

    asyncio.run(scenario())


def test_whep_plays_a_scene_room_and_a_member_without_camera_watches_it(server: ServerThread,
                                                                        astronaut: np.ndarray) -> None:
    from server.storage.room_settings import RoomSettings

    async def scenario() -> None:
        host = SyntheticParticipant(server.url, "stage", "host", FrameSourceTrack(lambda i: np.roll(astronaut, i % 7, 1)),
                                    watch_others=False)
        guest = SyntheticParticipant(server.url, "stage", "guest", None, watch_others=False)  # no camera
        player = WhepPlayer(f"{server.url}/whep/stage?view=scene")
        try:
            await host.join()
            await guest.join()
            await host.wait_for_frames("self", 10)
            not_yet = await player.start()
            assert not_yet.status == 409  # not in scene mode yet
            await close_quietly(player.pc)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                server.conference.configure_room("stage", RoomSettings(mode="scene", layout="grid")), server.loop))
            player = WhepPlayer(f"{server.url}/whep/stage?view=scene")
            response = await player.start()
            assert response.status == 201 and response.headers["Location"].startswith(f"{server.url}/whep/stage/")
            await guest.subscribe("scene", "scene")
            await player.wait_for(30)
            seen = await guest.wait_for_frames("scene", 20)
            assert player.last_image.shape == seen.last_image.shape == (540, 960, 3)
            assert [s["name"] for s in guest.scene["seats"]] == ["host"]  # the camera-less guest has no seat
            assert await player.stop() == 200
        finally:
            await host.leave()
            await guest.leave()

    asyncio.run(scenario())
    assert wait_until(lambda: not server.conference.participants and not server.conference.scenes
                      and len(server.app[MEDIA_SESSIONS]) == 0)


class Tone(AudioStreamTrack):
    """A microphone playing a steady tone at about a quarter of full scale."""

    def __init__(self, hertz: float) -> None:
        super().__init__()
        self.hertz = hertz

    async def recv(self):
        frame = await super().recv()
        t = (frame.pts + np.arange(frame.samples)) / frame.sample_rate
        frame.planes[0].update((8000 * np.sin(2 * np.pi * self.hertz * t)).astype(np.int16).tobytes())
        return frame


def tone_levels(sound: deque, sample_rate: int = 48_000) -> dict[int, float]:
    """How far each test tone stands above the spectrum's median, in decibels, over the sound kept."""
    samples = np.concatenate(list(sound))
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    bins = np.fft.rfftfreq(len(samples), 1 / sample_rate)
    floor = np.median(spectrum) + 1e-9
    return {hertz: float(20 * np.log10(spectrum[np.abs(bins - hertz) < 5].max() / floor)) for hertz in (440, 660)}


def test_the_scene_audience_hears_every_voice_mixed(server: ServerThread, astronaut: np.ndarray) -> None:
    """A WHEP player of a scene (a broadcast's audience) hears the room: both co-hosts' tones in one
    track, and a muted co-host drops out of it. (The player takes the sound alone and the co-hosts send
    small pictures: this process also runs the server, and a loaded event loop must not hold up the
    sound the test listens to.)"""
    from server.storage.room_settings import RoomSettings

    small = cv2.resize(astronaut, (320, 240), interpolation=cv2.INTER_AREA)

    async def heard(player: WhepPlayer, wanted, timeout: float = 15.0) -> dict[int, float]:
        """The tones' levels over the last second of sound once ``wanted(levels)`` holds, else the last."""
        deadline = time.monotonic() + timeout
        while True:
            await asyncio.sleep(0.25)
            if len(player.sound) == player.sound.maxlen:
                levels = tone_levels(player.sound)
                if wanted(levels) or time.monotonic() > deadline:
                    return levels
            elif time.monotonic() > deadline:
                return {}

    async def scenario() -> tuple[dict, dict, float]:
        hosts = [SyntheticParticipant(server.url, "on-air", name, FrameSourceTrack(lambda i: np.roll(small, i % 7, 1)),
                                      audio=Tone(hertz), watch_others=False)
                 for name, hertz in (("low", 440), ("high", 660))]
        player = WhepPlayer(f"{server.url}/whep/on-air?view=scene", video=False)
        try:
            for host in hosts:
                await host.join()
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                server.conference.configure_room("on-air", RoomSettings(mode="scene", layout="cohost")), server.loop))
            assert (await player.start()).status == 201
            both = await heard(player, lambda levels: min(levels.values()) > 30)
            await hosts[1].send({"type": "media", "microphone": False})
            muted_at = time.monotonic()
            one = await heard(player, lambda levels: levels[440] - levels[660] > 25)
            await player.stop()
            return both, one, time.monotonic() - muted_at
        finally:
            for host in hosts:
                await host.leave()

    both, one, seconds = asyncio.run(scenario())
    assert both[440] > 30 and both[660] > 30 and abs(both[440] - both[660]) < 10, both  # as loud as each other
    assert one[440] > 30 and one[440] - one[660] > 25, (one, seconds)  # what is left at 660 Hz: the codec's noise
    assert wait_until(lambda: not server.conference.participants and not server.conference.scenes)
