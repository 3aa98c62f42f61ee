"""Clients behind a firewall reach the server through TURN: a real coturn on loopback, participants that
may only use its relays, and the per-participant credentials the server hands out."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import shutil
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from server.loadtest.participant import FrameSourceTrack, SyntheticParticipant
from server.rtc.ice_servers import check_ice_urls, ice_servers_for, turn_credentials
from tests.server_harness import ServerThread, free_port
from tests.test_whip_whep import WhepPlayer

SECRET = "turn-shared-secret-for-tests"


def test_turn_credentials_follow_the_rest_api_scheme() -> None:
    username, password = turn_credentials("s3cret", "alice", now=1_000_000.0, seconds=600)
    assert username == "1000600:alice"
    assert password == base64.b64encode(hmac.new(b"s3cret", b"1000600:alice", hashlib.sha1).digest()).decode()
    stun, turn = ice_servers_for(("stun:stun.example.org:3478", "turn:turn.example.org:3478?transport=tcp"),
                                 "s3cret", "bob", now=5.0)
    assert stun.as_json() == {"urls": ["stun:stun.example.org:3478"]}
    assert turn.as_json()["username"].endswith(":bob") and turn.as_json()["credential"]


@pytest.mark.parametrize("urls, secret, fragment", [
    (("http://turn.example.org",), None, "start with stun:"),
    (("stun:",), None, "name a host"),
    (("turn:turn.example.org:3478",), None, "shared secret"),
])
def test_bad_ice_settings_are_refused(urls: tuple[str, ...], secret: str | None, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        check_ice_urls(urls, secret)


@pytest.fixture
def turn_port(tmp_path: Path):
    """A coturn on 127.0.0.1 that accepts credentials made from SECRET and relays to loopback."""
    turnserver = shutil.which("turnserver")
    assert turnserver, "coturn is missing: run scripts/setup.sh"
    port = free_port()
    process = subprocess.Popen([
        turnserver, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
        "--min-port=49200", "--max-port=49400", "--use-auth-secret", f"--static-auth-secret={SECRET}",
        "--realm=backdrop.test", "--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers",
        f"--userdb={tmp_path / 'turndb'}", f"--pidfile={tmp_path / 'turn.pid'}", "--log-file=stdout", "--simple-log",
    ], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 10
    while True:  # it listens on TCP as well as UDP
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "turnserver did not start"
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(10)


@pytest.mark.slow
def test_participants_that_may_only_relay_call_through_turn(tmp_path: Path, turn_port: int,
                                                            astronaut: np.ndarray) -> None:
    server = ServerThread(tmp_path / "data", ice_servers=(f"turn:127.0.0.1:{turn_port}?transport=udp",),
                          turn_secret=SECRET).start()

    async def scenario() -> None:
        alice = SyntheticParticipant(server.url, "relayed", "alice", FrameSourceTrack(lambda i: astronaut),
                                     relay_only=True)
        bob = SyntheticParticipant(server.url, "relayed", "bob", None, relay_only=True)
        try:
            await alice.join()
            await bob.join()
            await alice.wait_for_frames("self", 10)
            await bob.wait_for_frames("alice", 10)
            # Each got credentials of their own, from the shared secret.
            (entry,) = alice.ice_servers
            assert entry["urls"] == [f"turn:127.0.0.1:{turn_port}?transport=udp"]
            expiry, identity = entry["username"].split(":")
            assert identity == alice.id and int(expiry) > time.time() + 3600
            assert entry["credential"] == turn_credentials(SECRET, alice.id, int(expiry) - 24 * 3600)[1]
            # They could only offer relay candidates, so every connection that carries video is relayed.
            for participant in (alice, bob):
                for pc in participant._pcs.values():
                    gatherer = pc.getTransceivers()[0].receiver.transport.transport.iceGatherer
                    assert {c.type for c in gatherer.getLocalCandidates()} == {"relay"}
            # WHIP and WHEP clients get them as Link headers (RFC 9725), credentials per session.
            player = WhepPlayer(f"{server.url}/whep/relayed?participant=alice")
            response = await player.start()
            try:
                assert response.status == 201
                (link,) = response.headers.getall("Link")
                session = player.location.rsplit("/", 1)[1]
                assert link.startswith(f'<turn:127.0.0.1:{turn_port}?transport=udp>; rel="ice-server"; username="')
                assert f':{session}"; credential="' in link and link.endswith('credential-type="password"')
                await player.wait_for(5)
            finally:
                await player.stop()
            # Before its offer a client may ask the endpoint (OPTIONS) for them, as the WHEP page does.
            async with aiohttp.ClientSession() as http:
                async with http.options(f"{server.url}/whep/relayed") as options:
                    assert options.status == 204
                    (link,) = options.headers.getall("Link")
                    assert link.startswith(f'<turn:127.0.0.1:{turn_port}?transport=udp>; rel="ice-server"; username="')
                    assert ':whep-' in link
        finally:
            await alice.leave()
            await bob.leave()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


LOCAL_CANDIDATE_TYPES = """async (pc) => {
  const types = new Set();
  (await pc.getStats()).forEach((s) => { if (s.type === 'local-candidate') types.add(s.candidateType); });
  return [...types];
}"""


@pytest.mark.slow
def test_the_page_calls_through_turn_when_told_to_relay(tmp_path: Path, turn_port: int) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    from tests.test_browser_e2e import CHROMIUM, grab, open_participant, person_footage

    assert Path(CHROMIUM).exists(), "Debian chromium is missing: run scripts/setup.sh"
    y4m, _ = person_footage(tmp_path)
    server = ServerThread(tmp_path / "data", ice_servers=(f"turn:127.0.0.1:{turn_port}?transport=udp",),
                          turn_secret=SECRET).start()

    async def scenario() -> tuple[list[str], list[str]]:
        async with playwright_api.async_playwright() as playwright:
            context, page = await open_participant(playwright, tmp_path / "profile", y4m,
                                                   f"{server.url}/?room=relayed&name=ada&autojoin=1&relay=1")
            await grab(page, "video[data-role=self-composite]")
            call = await page.evaluate(f"({LOCAL_CANDIDATE_TYPES})(state.publishPc)")
            # The WHEP player page reads the ICE servers from the endpoint's OPTIONS answer.
            whep = await context.new_page()
            await whep.goto(f"{server.url}/whep.html?room=relayed&participant=ada&relay=1")
            await grab(whep, "video[data-role=whep]")
            playback = await whep.evaluate(f"({LOCAL_CANDIDATE_TYPES})(player.pc)")
            await context.close()
            return call, playback

    try:
        assert asyncio.run(scenario()) == (["relay"], ["relay"])
    finally:
        server.stop()


@pytest.mark.slow
def test_with_a_join_secret_only_a_token_holder_gets_turn_credentials(tmp_path: Path) -> None:
    from server.web.join_tokens import issue_join_token

    join_secret = "join-secret-for-turn-tests-0123456789"
    server = ServerThread(tmp_path / "data", ice_servers=("turn:127.0.0.1:3478",), turn_secret=SECRET,
                          join_secret=join_secret).start()

    async def links(headers: dict) -> list[str]:
        async with aiohttp.ClientSession() as http:
            async with http.options(f"{server.url}/whep/vault", headers=headers) as response:
                assert response.status == 204
                return response.headers.getall("Link", [])

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        token = issue_join_token(join_secret, "vault", "viewer", 300)
        other_room = issue_join_token(join_secret, "elsewhere", "viewer", 300)
        return (await links({}), await links({"Authorization": f"Bearer {other_room}"}),
                await links({"Authorization": f"Bearer {token}"}))

    try:
        anonymous, wrong_room, holder = asyncio.run(scenario())
    finally:
        server.stop()
    assert anonymous == [] and wrong_room == []
    (link,) = holder
    assert ':whep-viewer"; credential="' in link
