"""A node's participant limit (``--max-participants``): past it joins are refused as ``server_full``
over the signaling socket and WHIP alike, the calls under way go on, and a seat freed is taken again.

A real server on loopback; the clients are real aiortc peers (synthetic participants), HTTP, and the
call page in Debian's Chromium.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from server.cli import main as cli_main
from server.loadtest.participant import SyntheticParticipant
from tests.server_harness import eventually, resolves_to
from tests.test_browser_e2e import CHROMIUM, grab, open_participant, person_footage
from tests.test_cluster import still

# The offer is never read: a full server refuses the WHIP publisher before looking at it.
WHIP_OFFER = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"


def test_a_full_node_refuses_joins_and_takes_them_again_once_a_seat_frees(start_server,
                                                                           astronaut: np.ndarray) -> None:
    server = start_server(workers=1, max_participants=2)

    async def scenario() -> None:
        alice = SyntheticParticipant(server.url, "standup", "alice", still(astronaut))
        bob = SyntheticParticipant(server.url, "retro", "bob", None)
        carol = SyntheticParticipant(server.url, "standup", "carol", None)
        try:
            await alice.join()
            await bob.join()
            with pytest.raises(RuntimeError, match="at most 2 participants"):
                await carol.join()
            assert carol.errors[-1]["error"] == "server_full"
            await carol.leave()
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{server.url}/whip/standup", data=WHIP_OFFER,
                                     headers={"Content-Type": "application/sdp"}) as response:
                    assert response.status == 503
                    assert response.headers["Retry-After"].isdigit()
                    assert (await response.json())["error"] == "server_full"
                async with http.get(f"{server.url}/metrics") as response:
                    metrics = await response.text()
                assert "backdrop_participant_limit 2.0" in metrics
                assert "backdrop_joins_refused_full_total 2.0" in metrics
            # The call under way went on: alice still gets her composite.
            frames = alice.received["self"].frames if "self" in alice.received else 0
            await alice.wait_for_frames("self", frames + 10)
            # Bob leaves: his seat is taken again.
            await bob.leave()
            assert await eventually(lambda: len(server.conference.participants) == 1)
            carol = SyntheticParticipant(server.url, "standup", "carol", None)
            await carol.join()
            assert {p.name for p in server.conference.participants.values()} == {"alice", "carol"}
        finally:
            for participant in (alice, bob, carol):
                await participant.leave()

    asyncio.run(scenario())


@pytest.mark.parametrize("value", ["-1", "many", "2.5"])
def test_a_participant_limit_that_is_not_a_count_stops_serve(value: str, tmp_path: Path, capsys) -> None:
    assert cli_main(["serve", "--data-dir", str(tmp_path), f"--max-participants={value}"]) == 2
    assert "--max-participants must be a whole number" in capsys.readouterr().err


@pytest.mark.slow
def test_the_call_page_waits_for_a_seat_on_a_full_server(start_server, tmp_path: Path, astronaut: np.ndarray) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    assert Path(CHROMIUM).exists(), "Debian chromium is missing: run scripts/setup.sh"
    y4m, _ = person_footage(tmp_path)
    server = start_server(workers=1, max_participants=1)
    connection = "() => document.querySelector('[data-role=status]').dataset.connection"

    async def scenario() -> None:
        alice = SyntheticParticipant(server.url, "standup", "alice", None)
        await alice.join()
        try:
            async with playwright_api.async_playwright() as playwright:
                context, page = await open_participant(playwright, tmp_path / "profile", y4m,
                                                       f"{server.url}/?room=standup&name=bob&autojoin=1")
                try:
                    assert await eventually(lambda: resolves_to(page.evaluate(connection), "reconnecting"), timeout=15)
                    assert "server_full" in await page.inner_text("#error")
                    await alice.leave()  # a seat frees: the page's next attempt takes it
                    await grab(page, "video[data-role=self-composite]")
                    assert {p.name for p in server.conference.participants.values()} == {"bob"}
                finally:
                    await context.close()
        finally:
            await alice.leave()

    asyncio.run(scenario())


@pytest.mark.slow
def test_a_load_test_counts_the_joins_a_full_node_refuses(start_server, tmp_path: Path) -> None:
    server = start_server(workers=1, max_participants=2)
    summary_path = tmp_path / "summary.json"
    assert cli_main(["loadtest", "--url", server.url, "--rooms", "2", "--participants", "3", "--duration", "4",
                     "--json", str(summary_path)]) == 0
    summary = json.loads(summary_path.read_text())
    assert summary["totals"]["joins_refused"] == {"server_full": 1}
    assert summary["totals"]["participants"] == 2
    assert {p["name"]: p["refused"] for p in summary["participants"]} == {
        "p000": None, "p001": None, "p002": "server_full"}
    assert sorted((s["sender"], s["receiver"]) for s in summary["streams"]) == [
        ("p000", "p000"), ("p001", "p001")]
    assert not server.conference.participants
