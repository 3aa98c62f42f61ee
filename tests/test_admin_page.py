"""The admin page in real headless Chromium: token, upload with progress, thumbnail, assign to a live
room, the live rooms view, delete, and moderating a participant (mute, remove)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from server.loadtest.participant import FrameSourceTrack, SyntheticParticipant
from server.web.keys import BACKGROUND_STORE, RECORDINGS
from tests import media_files
from tests.server_harness import ServerThread
from tests.test_browser_e2e import ARTIFACTS, CHROMIUM, FLAGS

pytestmark = pytest.mark.slow

TOKEN = "admin-page-token"


async def until(condition, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the page did not get there in time")
        await asyncio.sleep(0.1)


def test_admin_page_uploads_assigns_watches_and_deletes(tmp_path: Path, astronaut: np.ndarray) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    image = tmp_path / "sunset.png"
    image.write_bytes(media_files.encode(media_files.photo(800, 450), "PNG"))
    server = ServerThread(tmp_path / "data", admin_token=TOKEN).start()
    ARTIFACTS.mkdir(exist_ok=True)

    async def scenario() -> None:
        ada = SyntheticParticipant(server.url, "studio", "Ada", FrameSourceTrack(lambda i: astronaut))
        await ada.join()
        async with playwright_api.async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = await browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await page.goto(f"{server.url}/admin")

            await page.fill("[data-role=admin-token]", "wrong")
            await page.click("[data-role=save-token]")
            await page.wait_for_selector("[data-role=error]:not([hidden])")
            assert "unauthorized" in await page.text_content("[data-role=error]")

            await page.fill("[data-role=admin-token]", TOKEN)
            await page.click("[data-role=save-token]")
            await page.wait_for_selector("#admin:not([hidden])")
            await page.set_input_files("[data-role=upload-file]", str(image))
            await page.click("[data-role=upload]")
            card = await page.wait_for_selector("[data-role=backgrounds] figure.thumb img")
            await until(lambda: card.evaluate("img => img.complete && img.naturalWidth === 240"))
            (record,) = server.call(asyncio.to_thread(server.app[BACKGROUND_STORE].list))
            assert record.name == "sunset" and (record.width, record.height) == (800, 450)

            await page.fill("[data-role=room-name]", "studio")
            await page.select_option("[data-role=room-background]", record.id)
            await page.select_option("[data-role=room-statistic]", "median")
            await page.click("[data-role=assign]")
            await until(lambda: _true(ada.background == record.id))
            row = "[data-role=rooms] tr[data-participant=Ada]"
            await page.wait_for_selector(row)
            await until(lambda: _quality_shown(page, row))
            cells = await page.eval_on_selector_all(f"{row} td", "tds => tds.map(td => td.textContent)")
            assert cells[0] == "studio" and cells[2] == "sunset" and cells[3] == "median"
            # One node, this one, hosting the studio room with Ada.
            node_cells = await page.eval_on_selector_all("[data-role=nodes] tbody tr td",
                                                         "tds => tds.map(td => td.textContent)")
            assert node_cells[1:4] == [f"{server.url} (this node)", "studio", "1"]
            # Drain this node from the page, then let it take new rooms again.
            await page.click("[data-role=nodes] [data-role=drain]")
            await page.wait_for_selector("[data-role=nodes] tr[data-draining=true]")
            assert server.conference.hosting.placement.draining
            await page.click("[data-role=nodes] [data-role=drain]")
            await page.wait_for_selector("[data-role=nodes] tr[data-draining=false]")
            assert not server.conference.hosting.placement.draining
            await page.screenshot(path=str(ARTIFACTS / "admin_page.png"))

            await page.click("[data-role=backgrounds] figure.thumb [data-role=delete]")
            await until(lambda: _true(ada.background == "builtin:studio"))
            await page.wait_for_selector("[data-role=backgrounds] figure.thumb", state="detached")
            assert server.call(asyncio.to_thread(server.app[BACKGROUND_STORE].list)) == []

            # Moderation: mute Ada (the server enforces it and tells her), then remove her.
            await page.click(f"{row} [data-role=moderate-microphone]")
            await until(lambda: _true(ada.media.get(ada.id) == {"microphone": False, "camera": True, "by": "moderator"}))
            assert not server.conference.participants[ada.id].microphone_on
            await until(lambda: _text_is(page, f"{row} [data-role=moderate-microphone]", "Unmute"))
            # Record her composite from the page, stop it, and the recordings table offers the file.
            await page.click(f"{row} [data-role=record-participant]")
            recording = "[data-role=recordings] tr[data-state=recording]"
            await page.wait_for_selector(recording)
            await asyncio.sleep(1.5)
            await page.click(f"{recording} [data-role=recording-stop]")
            stopped = "[data-role=recordings] tr[data-state=stopped]"
            await page.wait_for_selector(f"{stopped} [data-role=recording-download]")
            (info,) = server.app[RECORDINGS].store.list()
            assert info.source_name == "Ada" and info.video_frames > 20 and info.bytes > 0
            async with page.expect_download() as download:
                await page.click(f"{stopped} [data-role=recording-download]")
            assert (await download.value).suggested_filename == f"backdrop-{info.id}.webm"
            await page.click(f"{row} [data-role=moderate-remove]")
            await until(lambda: _true(ada.removed == "removed"))
            assert ada.id not in server.conference.participants
            await page.wait_for_selector(row, state="detached")
            await browser.close()
        await ada.leave()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


async def _true(value: bool) -> bool:
    return value


async def _text_is(page, selector: str, text: str) -> bool:
    return await page.text_content(selector) == text


async def _quality_shown(page, row: str) -> bool:
    cells = await page.eval_on_selector_all(f"{row} td", "tds => tds.map(td => td.textContent)")
    try:
        return 0.0 <= float(cells[4]) < 1.0
    except (ValueError, IndexError):
        return False
