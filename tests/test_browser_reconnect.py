"""The browser page rejoins on its own, in real headless Chromium: after the server drops its media
connection, and after the server restarts, keeping the user's statistic, mute and camera choices;
it follows a moderator's mute; and it stays out once the user leaves or a moderator removes them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import requests

from tests.server_harness import ServerThread, eventually
from tests.test_browser_e2e import ARTIFACTS, CHROMIUM, grab, open_participant, person_footage

pytestmark = pytest.mark.slow

SELF = "video[data-role=self-composite]"
CONNECTION = "() => document.querySelector('[data-role=status]').dataset.connection"
ADMIN_TOKEN = "reconnect-moderator"
# The page's own microphone and camera tracks: whether each sends (app.js's top-level `state`).
TRACKS_ENABLED = "() => [...state.stream.getAudioTracks(), ...state.stream.getVideoTracks()].map(t => t.enabled)"


def ids_named(server: ServerThread, name: str) -> set[str]:
    return {p.id for p in list(server.conference.participants.values()) if p.name == name}


def media_of(server: ServerThread, name: str) -> set[tuple[bool, bool]]:
    """(microphone on, camera on) of each participant called ``name``, as the server knows them."""
    return {(p.microphone_on, p.camera_on) for p in list(server.conference.participants.values()) if p.name == name}


async def tile_media(page, name: str) -> tuple[str | None, str | None]:
    """The data-microphone and data-camera of the page's tile showing ``name``."""
    return tuple(await page.evaluate("""(name) => {
      const video = document.querySelector(`video[data-role=remote][data-participant="${name}"]`);
      const tile = video && video.closest('.tile');
      return tile ? [tile.dataset.microphone || null, tile.dataset.camera || null] : [null, null];
    }""", name))


async def moderate(server: ServerThread, method: str, name: str, body: dict | None = None) -> requests.Response:
    """A moderator's request on the participant called ``name`` in the room "again"."""
    return await asyncio.to_thread(requests.request, method, f"{server.url}/api/rooms/again/participants/{name}",
                                   json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)


def statistics_of(server: ServerThread, name: str) -> set[str]:
    """The statistic each participant called ``name`` scores their frames with."""
    return {server.conference.statistic_of(p) for p in list(server.conference.participants.values()) if p.name == name}


async def until(condition, what: str, timeout: float = 30.0) -> None:
    """``eventually``, failing with ``what`` if ``condition`` never holds."""
    assert await eventually(condition, timeout), f"{what} did not hold within {timeout} s"


async def connection_is(page, connection: str) -> bool:
    """Whether the page's status line says ``connection`` (joining, connected, reconnecting, disconnected)."""
    return await page.evaluate(CONNECTION) == connection


def test_the_page_rejoins_after_a_dropped_connection_and_a_server_restart_keeping_choices(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    assert Path(CHROMIUM).exists(), "Debian chromium is missing: run scripts/setup.sh"
    y4m, _ = person_footage(tmp_path)
    servers = [ServerThread(tmp_path / "data").start()]

    async def scenario() -> None:
        url = servers[0].url
        async with playwright_api.async_playwright() as playwright:
            alice_context, alice = await open_participant(playwright, tmp_path / "profile-alice", y4m,
                                                          f"{url}/?room=again&name=alice&autojoin=1")
            bob_context, bob = await open_participant(playwright, tmp_path / "profile-bob", y4m,
                                                      f"{url}/?room=again&name=bob&autojoin=1")
            await grab(alice, SELF)
            await grab(bob, "video[data-role=remote][data-participant=alice]")

            server = servers[0]
            await alice.select_option("[data-role=statistic-picker]", "person-mean")
            await until(lambda: statistics_of(server, "alice") == {"person-mean"}, "alice's statistic applied")
            await alice.click("[data-role=microphone-toggle]")
            await alice.click("[data-role=camera-toggle]")
            await until(lambda: media_of(server, "alice") == {(False, False)}, "alice muted on the server")
            await until(lambda: _equal(tile_media(bob, "alice"), ("off", "off")), "bob's tile shows alice muted")
            ARTIFACTS.mkdir(exist_ok=True)
            await bob.screenshot(path=str(ARTIFACTS / "browser_muted_participant.png"))
            assert await alice.get_attribute("[data-role=microphone-toggle]", "aria-pressed") == "true"
            assert await alice.evaluate(TRACKS_ENABLED) == [False, False]  # muting stops what the page sends

            # 1. The server loses alice's media connection (as when ICE fails) and removes her.
            (first_id,) = ids_named(server, "alice")
            server.call(server.conference.participants[first_id].publish_pc.close())
            await until(lambda: ids_named(server, "alice") - {first_id}, "alice rejoined")
            assert ids_named(server, "alice") != {first_id}
            await grab(alice, SELF)  # the composite plays again: the old one was cleared on removal
            await grab(bob, "video[data-role=remote][data-participant=alice]")
            assert await alice.evaluate(CONNECTION) == "connected"
            await until(lambda: statistics_of(server, "alice") == {"person-mean"}, "alice's statistic kept")
            await until(lambda: media_of(server, "alice") == {(False, False)}, "alice still muted")
            await until(lambda: _equal(tile_media(bob, "alice"), ("off", "off")), "bob's new tile shows alice muted")

            # 2. The server restarts on the same port: both pages wait, retry and rejoin.
            server.stop()
            await until(lambda: connection_is(alice, "reconnecting"), "alice reconnecting")
            await asyncio.sleep(1.5)  # at least one attempt finds nobody listening
            servers.append(ServerThread(tmp_path / "data-restarted", port=server.port, admin_token=ADMIN_TOKEN).start())
            restarted = servers[1]
            await until(lambda: ids_named(restarted, "alice") and ids_named(restarted, "bob"),
                        "both pages rejoined the restarted server")
            await grab(alice, SELF)
            await grab(alice, "video[data-role=remote][data-participant=bob]")
            await grab(bob, "video[data-role=remote][data-participant=alice]")
            await until(lambda: connection_is(alice, "connected"), "alice connected")
            await until(lambda: statistics_of(restarted, "alice") == {"person-mean"}, "alice's statistic kept on restart")
            await until(lambda: media_of(restarted, "alice") == {(False, False)}, "alice still muted on restart")
            await alice.click("[data-role=microphone-toggle]")
            await alice.click("[data-role=camera-toggle]")
            await until(lambda: _equal(tile_media(bob, "alice"), ("on", "on")), "bob's tile shows alice unmuted")
            assert media_of(restarted, "alice") == {(True, True)}
            await until(lambda: _equal(alice.evaluate(TRACKS_ENABLED), [True, True]), "alice's tracks on")
            # A moderator mutes alice: her page's button and microphone follow.
            assert (await moderate(restarted, "PATCH", "alice", {"microphone": False})).status_code == 200
            await until(lambda: _equal(alice.get_attribute("[data-role=microphone-toggle]", "aria-pressed"), "true"),
                        "alice's mute button follows the moderator")
            assert await alice.evaluate(TRACKS_ENABLED) == [False, True]
            # An echo of the page's own earlier change, arriving late, does not undo the buttons.
            await alice.evaluate("""() => onMessage({data: JSON.stringify({type: 'participant-media', id: state.id,
                                                     microphone: true, camera: true, by: 'participant'})})""")
            assert await alice.get_attribute("[data-role=microphone-toggle]", "aria-pressed") == "true"

            # 3. Leaving is final: no reconnection.
            await alice.click("[data-role=leave]")
            await until(lambda: not ids_named(restarted, "alice"), "alice left")
            await asyncio.sleep(3.0)  # longer than the first reconnection delays
            assert not ids_named(restarted, "alice")
            assert await alice.evaluate(CONNECTION) == "disconnected"
            assert await alice.is_visible("[data-role=join-form]")
            assert ids_named(restarted, "bob")

            # 4. A moderator removes bob: his page says so and does not rejoin.
            assert (await moderate(restarted, "DELETE", "bob")).status_code == 204
            await until(lambda: connection_is(bob, "disconnected"), "bob's page gave up")
            await asyncio.sleep(3.0)
            assert not ids_named(restarted, "bob")
            assert "removed" in await bob.text_content("[data-role=error]")
            for context in (alice_context, bob_context):
                await context.close()

    try:
        asyncio.run(scenario())
    finally:
        for server in servers:
            if server._thread.is_alive():
                server.stop()



async def _equal(value, expected) -> bool:
    return await value == expected
