"""The WHEP player page in real headless Chromium, playing a participant published by FFmpeg over WHIP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import cv2
import pytest

from server.loadtest.whip_publisher import load_footage
from tests.server_harness import ServerThread
from tests.test_browser_e2e import ARTIFACTS, CHROMIUM, FLAGS, grab
from tests.server_harness import wait_until
from tests.test_whip_whep import ffmpeg_publisher, replaced_background

pytestmark = pytest.mark.slow


def test_whep_page_plays_a_whip_published_participant(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    footage = load_footage(None, 640, 480, limit=120)
    server = ServerThread(tmp_path / "data").start()
    publisher = ffmpeg_publisher(f"{server.url}/whip/broadcast?name=anchor", 40)
    ARTIFACTS.mkdir(exist_ok=True)

    async def scenario():
        async with playwright_api.async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=FLAGS + ["--disable-features=WebRtcHideLocalIpsWithMdns"])
            page = await browser.new_page(viewport={"width": 1100, "height": 820})
            await page.goto(f"{server.url}/whep.html?room=broadcast&participant=anchor")
            await grab(page, "video[data-role=whep]")
            await asyncio.sleep(1.5)
            image = await grab(page, "video[data-role=whep]")
            assert await page.text_content("[data-role=status]") == "connected"
            assert server.conference.find("broadcast", "anchor").broadcast.viewers == 1
            # It starts muted (autoplay rules); the button turns the sound on and goes away.
            await page.wait_for_selector("[data-role=unmute]:not([hidden])")
            await page.click("[data-role=unmute]")
            assert await page.evaluate("document.querySelector('#player').muted") is False
            assert await page.is_hidden("[data-role=unmute]")
            await page.screenshot(path=str(ARTIFACTS / "whep_player.png"))
            await page.goto("about:blank")  # leaving the page DELETEs its WHEP session
            await browser.close()
            return image

    try:
        assert wait_until(lambda: (p := server.conference.find("broadcast", "anchor")) is not None
                          and p.stats.frames_out > 10)
        image = asyncio.run(scenario())
        cv2.imwrite(str(ARTIFACTS / "whep_player_frame.png"), image)
        assert image.shape == (480, 640, 3)
        assert replaced_background(image, footage)
        # The page's DELETE on leaving ended its session: only the publisher's session remains.
        assert wait_until(lambda: server.conference.find("broadcast", "anchor").broadcast.viewers == 0)
    finally:
        publisher.kill()
        publisher.wait()
        server.stop()


def test_whep_page_waits_for_the_broadcast_and_plays_it_again_after_it_restarts(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    server = ServerThread(tmp_path / "data").start()
    publishers = []
    connection = "() => document.querySelector('[data-role=status]').dataset.connection"

    async def until_connection(page, wanted: str, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while await page.evaluate(connection) != wanted:
            assert asyncio.get_running_loop().time() < deadline, f"the page never showed {wanted!r}"
            await asyncio.sleep(0.1)

    async def anchor_live() -> None:
        assert await asyncio.to_thread(wait_until, lambda: (p := server.conference.find("broadcast", "anchor"))
                                       is not None and p.stats.frames_out > 10, 30.0)

    async def scenario() -> None:
        async with playwright_api.async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=FLAGS + ["--disable-features=WebRtcHideLocalIpsWithMdns"])
            page = await browser.new_page()
            # Opened before the anchor is live: the page waits (404) instead of failing.
            await page.goto(f"{server.url}/whep.html?room=broadcast&participant=anchor")
            await until_connection(page, "waiting")
            assert await page.is_hidden("[data-role=error]")
            publishers.append(ffmpeg_publisher(f"{server.url}/whip/broadcast?name=anchor", 6))
            await anchor_live()
            await grab(page, "video[data-role=whep]")
            await until_connection(page, "connected")
            # The anchor's encoder stops (its WHIP session is deleted), then starts again.
            await asyncio.to_thread(publishers[0].wait, 30)
            await until_connection(page, "waiting")
            publishers.append(ffmpeg_publisher(f"{server.url}/whip/broadcast?name=anchor", 20))
            await anchor_live()
            await until_connection(page, "connected")
            await grab(page, "video[data-role=whep]")
            assert server.conference.find("broadcast", "anchor").broadcast.viewers == 1
            await browser.close()

    try:
        asyncio.run(scenario())
    finally:
        for publisher in publishers:
            publisher.kill()
            publisher.wait()
        server.stop()
