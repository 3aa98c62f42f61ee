"""A participant's own background picture, sent over the signaling socket: used for their composite
only, refused clearly when it is not a usable picture, never listed to anyone else, gone when they
leave. Real server, real aiortc participants."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import requests

from server.loadtest.participant import FrameSourceTrack, SyntheticParticipant
from server.rtc.participant import Participant
from server.web.signaling import MAX_MESSAGE_BYTES
from server.rtc.own_backgrounds import OWN_MAX_BYTES, OWN_PICTURES_PER_MINUTE, OWN_PREFIX, OwnPictures
from tests.server_harness import ServerThread, eventually, resolves_to
from tests.test_admin_api import ADMIN, corner_bgr, picture
from tests.test_browser_e2e import CHROMIUM, grab, open_participant, person_footage

GREEN = (40, 190, 40)
SELF = "video[data-role=self-composite]"


@pytest.fixture
def server(tmp_path: Path):
    running = ServerThread(tmp_path, workers=1, admin_token=ADMIN["Authorization"].split()[1]).start()
    yield running
    running.stop()


def _green_corner(participant: SyntheticParticipant) -> bool:
    stream = participant.received.get("self")
    return stream is not None and stream.last_image is not None and \
        bool(np.abs(corner_bgr(stream.last_image) - GREEN).max() < 35)


def test_a_participants_own_picture_becomes_their_background_and_nobody_elses(server: ServerThread,
                                                                            astronaut: np.ndarray) -> None:
    async def scenario() -> None:
        ada = SyntheticParticipant(server.url, "own", "ada", FrameSourceTrack(lambda i: astronaut))
        bob = SyntheticParticipant(server.url, "own", "bob", FrameSourceTrack(lambda i: astronaut))
        await ada.join()
        await bob.join()
        try:
            await ada.wait_for_frames("self", 5)
            await ada.send_picture(picture(GREEN))
            assert await eventually(lambda: ada.own_background is not None and ada.background == ada.own_background)
            assert ada.own_background.startswith(f"{OWN_PREFIX}{ada.id}:")
            assert await eventually(lambda: _green_corner(ada), timeout=10)
            assert not _green_corner(bob)  # bob's composite keeps the default background
            ada_there = server.conference.participants[ada.id]
            assert ada_there.applied_background == ada.own_background
            assert ada_there.own_pictures.current.image.shape == (480, 640, 3)

            # Nobody else can pick it, and no list names it.
            await bob.send({"type": "background", "background": ada.own_background})
            assert await eventually(lambda: any(e.get("error") == "unknown_background" for e in bob.errors))
            listed = requests.get(f"{server.url}/api/backgrounds", headers=ADMIN, timeout=10).json()
            assert all(not b["id"].startswith(OWN_PREFIX) for b in listed + bob.backgrounds)

            # She may switch to another background and back to her picture.
            own = ada.own_background
            await ada.send({"type": "background", "background": "builtin:lights"})
            assert await eventually(lambda: ada.background == "builtin:lights")
            assert await eventually(lambda: not _green_corner(ada), timeout=10)
            await ada.send({"type": "background", "background": own})
            assert await eventually(lambda: ada.background == own)
            assert await eventually(lambda: _green_corner(ada), timeout=10)

            # Bad pictures are refused, saying why, and change nothing: her call goes on as it was.
            for data, code in ((b"this is not an image", "not_an_image"), (b"GIF89a" + bytes(100), "unsupported_type"),
                               (picture(GREEN)[:300], "corrupt_image"),
                               (b"\x89PNG\r\n\x1a\n" + bytes(OWN_MAX_BYTES), "too_large")):
                errors = len(ada.errors)
                await ada.send_picture(data)
                assert await eventually(lambda: len(ada.errors) > errors)
                assert (ada.errors[-1]["error"], ada.errors[-1]["request"]) == (code, "own-background"), ada.errors[-1]
            frames = ada.received["self"].frames
            await ada.wait_for_frames("self", frames + 10)
            assert ada.background == own and _green_corner(ada)

            # A second picture replaces the first, under a new key.
            await ada.send_picture(picture((190, 40, 40)))
            assert await eventually(lambda: ada.own_background != own and ada.background == ada.own_background)
            assert await eventually(lambda: not _green_corner(ada), timeout=10)
        finally:
            await bob.leave()
            await ada.leave()
        assert not server.conference.participants  # and her picture with her

    asyncio.run(scenario())


def test_a_participant_sends_at_most_so_many_pictures_a_minute() -> None:
    pictures = OwnPictures("ada", per_minute=3)
    assert [pictures.next_key(t) for t in (0.0, 1.0, 2.0, 3.0, 59.9)] == ["own:ada:1", "own:ada:2", "own:ada:3",
                                                                       None, None]
    assert pictures.next_key(60.0) == "own:ada:4"  # the first went out of the window
    assert pictures.next_key(60.5) is None and pictures.next_key(61.0) == "own:ada:5"
    assert not pictures.has("own:ada:5")  # a key names a picture only once it is taken


def test_a_flood_of_pictures_is_refused_past_the_minutes_allowance(server: ServerThread) -> None:
    async def scenario() -> None:
        ada = SyntheticParticipant(server.url, "busy", "ada", None)
        await ada.join()
        try:
            for _ in range(OWN_PICTURES_PER_MINUTE + 1):
                await ada.send_picture(b"not a picture")
            assert await eventually(lambda: len(ada.errors) == OWN_PICTURES_PER_MINUTE + 1)
            assert [e["error"] for e in ada.errors] == ["not_an_image"] * OWN_PICTURES_PER_MINUTE + ["too_many_pictures"]
        finally:
            await ada.leave()

    asyncio.run(scenario())


def test_a_room_whose_background_is_set_by_its_admin_takes_no_ones_own(server: ServerThread,
                                                                       astronaut: np.ndarray) -> None:
    """A broadcast's producer sets the room's backdrop: participants' own choices and pictures give way,
    live, and are refused until the admin lets them choose again."""
    def put_room(body: dict) -> dict:
        response = requests.put(f"{server.url}/api/rooms/studio", json=body, headers=ADMIN, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    async def scenario() -> None:
        ada = SyntheticParticipant(server.url, "studio", "ada", FrameSourceTrack(lambda i: astronaut))
        await ada.join()
        try:
            await ada.wait_for_frames("self", 5)
            assert ada.rights == {"participants_set_mode": True, "participants_set_background": True}
            await ada.send_picture(picture(GREEN))
            assert await eventually(lambda: _green_corner(ada), timeout=10)
            own = ada.own_background

            assert (await asyncio.to_thread(put_room, {"participants_set_background": False}))[
                "participants_set_background"] is False
            assert await eventually(lambda: ada.rights.get("participants_set_background") is False)
            assert await eventually(lambda: ada.background == "builtin:studio")  # the room's: the default here
            assert await eventually(lambda: not _green_corner(ada), timeout=10)
            for request in ({"type": "background", "background": "builtin:lights"},
                            {"type": "background", "background": own}):
                errors = len(ada.errors)
                await ada.send(request)
                assert await eventually(lambda: len(ada.errors) > errors)
                assert ada.errors[-1]["error"] == "not_allowed"
            errors = len(ada.errors)
            await ada.send_picture(picture(GREEN))
            assert await eventually(lambda: len(ada.errors) > errors)
            assert (ada.errors[-1]["error"], ada.errors[-1]["request"]) == ("not_allowed", "own-background")
            assert ada.own_background == own  # nothing new taken

            await asyncio.to_thread(put_room, {"participants_set_background": True})
            assert await eventually(lambda: ada.rights.get("participants_set_background") is True)
            await ada.send({"type": "background", "background": own})
            assert await eventually(lambda: ada.background == own)
            assert await eventually(lambda: _green_corner(ada), timeout=10)
        finally:
            await ada.leave()

    asyncio.run(scenario())


def test_a_picture_before_a_join_and_an_oversized_message_are_refused_and_the_session_goes_on(
        server: ServerThread) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{server.url}/ws") as ws:
            await ws.send_bytes(picture(GREEN))
            answer = await ws.receive_json(timeout=10)
            assert (answer["error"], answer["request"]) == ("not_joined", "own-background")
            await ws.send_str(json.dumps({"type": "join", "room": "r", "name": "x" * MAX_MESSAGE_BYTES}))
            assert (await ws.receive_json(timeout=10))["error"] == "too_large"
            await ws.send_json({"type": "join", "room": "r", "name": "ada"})
            assert (await ws.receive_json(timeout=10))["type"] == "joined"
            await ws.send_json({"type": "leave"})
    asyncio.run(scenario())


@pytest.mark.slow
def test_the_call_page_sends_the_users_own_picture_and_again_after_a_reconnection(server: ServerThread,
                                                                                  tmp_path: Path) -> None:
    """Real headless Chromium: the picture picked in the page's file input becomes the composite's
    background, and a page that reconnects (its media connection dropped by the server) sends it again
    to its new session."""
    playwright_api = pytest.importorskip("playwright.async_api")
    assert Path(CHROMIUM).exists(), "Debian chromium is missing: run scripts/setup.sh"
    y4m, _ = person_footage(tmp_path)
    green = tmp_path / "green.png"
    green.write_bytes(picture(GREEN))

    def own_picture_applied() -> Participant | None:
        """The participant "ada" once her own picture is her composite's background."""
        return next((p for p in list(server.conference.participants.values()) if p.name == "ada"
                     and p.own_pictures.current is not None and p.applied_background == p.own_pictures.current.key), None)

    async def own_picture_chosen(page) -> bool:
        """Whether the page's picker shows "Your picture" as the choice, under this session's key."""
        ada = own_picture_applied()
        chosen = await page.evaluate("() => [...document.querySelector('[data-role=background-picker]')"
                                     ".selectedOptions].map(o => [o.dataset.role, o.value])")
        return ada is not None and chosen == [["own-picture-option", ada.own_pictures.current.key]]

    async def green_corner(page) -> bool:
        return bool(np.abs(corner_bgr(await grab(page, SELF)) - GREEN).max() < 35)

    async def scenario() -> None:
        async with playwright_api.async_playwright() as playwright:
            context, page = await open_participant(playwright, tmp_path / "profile", y4m,
                                                   f"{server.url}/?room=mine&name=ada&autojoin=1")
            try:
                assert not await green_corner(page)
                await page.set_input_files("[data-role=own-picture]", str(green))
                assert await eventually(lambda: own_picture_chosen(page))
                assert await eventually(own_picture_applied)
                assert await eventually(lambda: green_corner(page), timeout=15)
                first = own_picture_applied()
                server.call(first.publish_pc.close())
                assert await eventually(lambda: own_picture_applied() not in (None, first), timeout=30)
                assert await eventually(lambda: own_picture_chosen(page))
                assert await eventually(lambda: green_corner(page), timeout=15)

                # The admin sets the room's background: the page's picker and file input turn off, live.
                assert not await page.is_disabled("[data-role=own-picture]")
                locked = await asyncio.to_thread(requests.put, f"{server.url}/api/rooms/mine",
                                                 json={"participants_set_background": False}, headers=ADMIN, timeout=10)
                assert locked.status_code == 200
                await page.wait_for_selector("[data-role=own-picture]:disabled", timeout=10_000)
                assert await page.is_disabled("[data-role=background-picker]")
                assert await eventually(lambda: resolves_to(green_corner(page), False), timeout=15)
            finally:
                await context.close()

    asyncio.run(scenario())
