"""A two-participant co-host scene in headless Chromium: both browsers show one shared scene stream in
``<video data-role="scene">``, each participant in their half, names under the seats."""

from __future__ import annotations

import asyncio
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from server.imaging.compositing import fit_background
from server.imaging.default_background import studio_background
from tests.server_harness import ServerThread
from tests.test_browser_e2e import ARTIFACTS, CHROMIUM, grab, open_alice_and_bob, person_footage

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "scene-browser-admin"

SEAT_LABELS = """() => [...document.querySelectorAll('[data-role=seat-label]')].map((label) => ({
  name: label.querySelector('.name').textContent,
  overlay: label.querySelector('[data-role=seat-overlay]').textContent,
}))"""


VOICES = """async () => Promise.all([...document.querySelectorAll('audio[data-role=voice]')].map(async (audio) => {
  const stats = { playing: audio.srcObject !== null && !audio.paused, packets: 0, energy: 0, videos: 0,
    connection: state.viewers.get(audio.dataset.participantId).connectionState };
  (await state.viewers.get(audio.dataset.participantId).getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') { stats.packets = s.packetsReceived; stats.energy = s.totalAudioEnergy; }
    if (s.type === 'inbound-rtp' && s.kind === 'video') stats.videos += 1;
  });
  return { id: audio.dataset.participantId, ...stats };
}))"""



async def heard(page, timeout: float = 15.0) -> list[dict]:
    """The page's voices once one plays with sound (50 packets and some energy), else the last seen."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        voices = await page.evaluate(VOICES)
        if voices and all(v["playing"] and v["packets"] > 50 and v["energy"] > 0 for v in voices):
            return voices
        if asyncio.get_running_loop().time() > deadline:
            return voices
        await asyncio.sleep(0.25)


def test_two_browsers_share_a_cohost_scene(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    assert Path(CHROMIUM).exists(), "Debian chromium is missing: run scripts/setup.sh"
    y4m, footage = person_footage(tmp_path)
    server = ServerThread(tmp_path / "data", admin_token=ADMIN_TOKEN).start()
    ARTIFACTS.mkdir(exist_ok=True)
    response = requests.put(f"{server.url}/api/rooms/cohosts", json={"mode": "scene", "layout": "cohost"},
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text

    async def scenario() -> dict:
        async with playwright_api.async_playwright() as playwright:
            pages, contexts = await open_alice_and_bob(playwright, tmp_path, y4m, server.url, "cohosts",
                                                       {"width": 1400, "height": 1000})
            # Both seated: wait until the scene carries two seats, then for a frame after that.
            for page in pages.values():
                await page.wait_for_function("document.querySelectorAll('[data-role=seat-label]').length === 2",
                                             timeout=30_000)
            await asyncio.sleep(3.0)  # new seats' first cut-outs, the target settling, a few stats pushes
            result = {
                "frames": {name: await grab(page, "video[data-role=scene]") for name, page in pages.items()},
                "labels": await pages["alice"].evaluate(SEAT_LABELS),
                "tiles_hidden": await pages["alice"].evaluate("document.querySelector('#tiles').hidden"),
                "remote_videos": await pages["alice"].evaluate("document.querySelectorAll('video[data-role=remote]').length"),
                "overlay": await pages["alice"].evaluate("document.querySelector('[data-role=scene-overlay]').textContent"),
            }
            # The scene shows everyone, and each page still hears the other: an audio-only connection
            # per other participant, playing in an <audio data-role=voice>, with the fake microphone's beeps.
            result["voices"] = {name: await heard(page) for name, page in pages.items()}
            await pages["alice"].screenshot(path=str(ARTIFACTS / "scene_cohost.png"))
            # Bob mutes: alice's label under his seat says so at the next stats push.
            await pages["bob"].click("[data-role=microphone-toggle]")
            await pages["alice"].wait_for_function(
                "[...document.querySelectorAll('[data-role=seat-overlay]')].some((o) => o.textContent.includes('muted'))",
                timeout=10_000)
            result["labels_after_mute"] = await pages["alice"].evaluate(SEAT_LABELS)
            for context in contexts:
                await context.close()
            return result

    try:
        result = asyncio.run(scenario())
    finally:
        server.stop()
    assert [label["name"] for label in result["labels"]] == ["alice (you)", "bob"]
    assert all("loss" in label["overlay"] for label in result["labels"]), result["labels"]
    assert [("muted" in label["overlay"]) for label in result["labels_after_mute"]] == [False, True]
    assert "target loss" in result["overlay"]
    assert result["tiles_hidden"] and result["remote_videos"] == 0  # one stream: the scene
    for name, voices in result["voices"].items():
        assert len(voices) == 1 and voices[0]["playing"], (name, str(voices))
        assert voices[0]["packets"] > 50 and voices[0]["energy"] > 0, (name, voices)  # the fake mic's beeps
    ids = {name: voices[0]["id"] for name, voices in result["voices"].items()}
    assert ids["alice"] != ids["bob"]  # each hears the other, not themselves
    assert all(voice["videos"] == 0 for voices in result["voices"].values() for voice in voices)  # voice only
    virtual = fit_background(studio_background(), 960, 540)
    for name, image in result["frames"].items():
        assert image.shape == (540, 960, 3), name
        cv2.imwrite(str(ARTIFACTS / f"scene_cohost_{name}.png"), image)
        # Each half holds a person standing on the bottom edge: the lower middle of each seat differs
        # from the virtual background, while the top band above the seated pictures is background.
        for half in (0, 480):
            person = np.s_[380:540, half + 170:half + 310]
            assert np.abs(image[person].astype(float) - virtual[person]).mean() > 25, (name, half)
        top = np.s_[5:120, :]
        assert np.abs(image[top].astype(float) - virtual[top]).mean() < 25, name
