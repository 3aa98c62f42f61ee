"""Several nodes share one Redis: each room lives on one node, and the others send its clients there.

A real redis-server runs on loopback; the nodes are real servers (aiohttp, worker pool, aiortc) in
this process, and the clients real aiortc peers over the signaling WebSocket, WHIP and WHEP.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import redis
import requests

from aiortc import RTCPeerConnection, RTCSessionDescription

from server.cli import main as cli_main
from server.errors import BackdropError
from server.imaging.scene_layout import SeatSpec
from server.storage import redis_stores
from server.storage.image_intake import ImageRejected
from server.storage.redis_stores import RedisBackgroundStore, RedisRoomSettingsStore
from server.storage.room_settings import RoomSettings
from server.loadtest.participant import FrameSourceTrack, SyntheticParticipant
from server.rtc.peers import close_quietly
from server.rtc.redis_placement import PUBLISHED_RECORDINGS, RedisPlacement
from server.rtc.room_placement import NodeInfo, NodeView, PlacementUnavailable
from server.web.app import check_cluster_settings
from server.web.cluster_view import cluster_recordings, cluster_rooms, keeper_of
from server.web.join_tokens import issue_join_token
from server.web.keys import ADMIN_TOKEN
from tests import media_files
from tests.server_harness import ServerThread, eventually, free_port, resolves_to
from tests.test_browser_e2e import CHROMIUM, grab, open_participant, person_footage
from tests.test_whip_whep import WhepPlayer

ADMIN = {"Authorization": "Bearer cluster-admin"}
JOIN_SECRET = "one-secret-shared-by-every-node-of-the-cluster"


def start_redis(port: int, directory: Path) -> subprocess.Popen:
    """A redis-server on a loopback port, nothing persisted; returns once it listens."""
    executable = shutil.which("redis-server")
    assert executable, "redis-server is missing: run scripts/setup.sh"
    process = subprocess.Popen([executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(directory)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)


@pytest.fixture
def redis_url(tmp_path: Path):
    """A redis-server of the test's own on a free loopback port."""
    port = free_port()
    process = start_redis(port, tmp_path)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


@pytest.fixture
def two_nodes(tmp_path: Path, redis_url: str):
    """``two_nodes(**settings)`` starts nodes a and b (one worker each, admin token "cluster-admin"
    unless given) sharing the test's Redis; both are stopped at the end."""
    started: list[ServerThread] = []

    def start(**settings: object) -> tuple[ServerThread, ServerThread]:
        for name in ("a", "b"):
            port = free_port()
            started.append(ServerThread(tmp_path / name, workers=1, port=port, redis_url=redis_url,
                                        node_url=f"http://127.0.0.1:{port}",
                                        **{"admin_token": "cluster-admin", **settings}).start())
        return started[0], started[1]
    yield start
    for server in started:
        server.stop()


def still(astronaut: np.ndarray) -> FrameSourceTrack:
    """A synthetic participant's camera: a 320x240 still."""
    frame = np.ascontiguousarray(astronaut[::2, ::2][:240, :320])
    return FrameSourceTrack(lambda i: frame)


def room_holder(redis_url: str, room: str) -> str | None:
    return redis.Redis.from_url(redis_url, decode_responses=True).get(f"backdrop:room:{room}")


def test_a_room_is_placed_on_the_first_node_asked_and_found_there_by_the_others(redis_url: str) -> None:
    async def scenario() -> None:
        a = RedisPlacement(redis_url, "http://a.example:8080/", node_id="a")
        b = RedisPlacement(redis_url, "http://b.example:8080", node_id="b")
        a_rooms: dict[str, int] = {}
        await a.start(lambda: a_rooms)
        await b.start(dict)
        try:
            assert await a.place("standup") is None  # a takes it
            a_rooms["standup"] = 1
            assert await b.place("standup") == "http://a.example:8080"
            assert await b.locate("standup") == "http://a.example:8080"
            assert await a.locate("standup") is None
            assert await b.locate("nowhere") is None
            assert await a.place("standup") is None  # asked again, a keeps it
            nodes = await b.nodes()
            assert [(n.id, n.url) for n in nodes] == [("a", "http://a.example:8080"), ("b", "http://b.example:8080")]

            await b.release("standup")  # only the holder may give a room up
            assert await b.place("standup") == "http://a.example:8080"
            await a.release("standup")
            a_rooms.clear()
            assert await b.place("standup") is None  # emptied on a, so b takes it next
            assert await a.place("standup") == "http://b.example:8080"
        finally:
            await a.close()
            await b.close()
        assert room_holder(redis_url, "standup") is None  # a closing node withdraws its rooms
    asyncio.run(scenario())


def test_a_node_keeps_its_rooms_while_alive_and_loses_them_when_it_dies(redis_url: str) -> None:
    async def scenario() -> None:
        quick = dict(heartbeat_seconds=0.2, node_ttl_seconds=0.8, room_lease_seconds=1.0)
        a = RedisPlacement(redis_url, "http://a.example", node_id="a", **quick)
        b = RedisPlacement(redis_url, "http://b.example", node_id="b", **quick)
        await a.start(lambda: {"standup": 2})
        await b.start(dict)
        try:
            assert await a.place("standup") is None
            await asyncio.sleep(2.5)  # more than twice the lease: a's heartbeat renewed it
            assert await b.place("standup") == "http://a.example"
            # a dies without a word (its heartbeat stops, nothing is withdrawn).
            a._heartbeat.cancel()
            assert await b.place("standup") == "http://a.example"  # still a's right after
            await asyncio.sleep(1.0)  # a's report lapses
            assert await b.place("standup") is None  # b takes the room over
            assert [n.id for n in await b.nodes()] == ["b"]
        finally:
            await b.close()
            await a.close()
    asyncio.run(scenario())


def test_a_node_cut_off_long_enough_to_lose_a_room_is_told_where_it_went(redis_url: str) -> None:
    async def scenario() -> None:
        quick = dict(heartbeat_seconds=0.2, node_ttl_seconds=0.8, room_lease_seconds=1.0)
        a = RedisPlacement(redis_url, "http://a.example", node_id="a", **quick)
        b = RedisPlacement(redis_url, "http://b.example", node_id="b", **quick)
        lost: list[tuple[str, str]] = []
        hosted = {"standup": 2, "retro": 1}

        async def on_lost(room: str, url: str) -> None:  # as the conference does: its members leave
            lost.append((room, url))
            hosted.pop(room)
        await a.start(lambda: dict(hosted), on_lost)
        await b.start(dict)
        try:
            assert await a.place("standup") is None and await a.place("retro") is None
            # While a was cut off, its report lapsed and b took standup (retro's claim merely lapsed).
            client = redis.Redis.from_url(redis_url)
            client.set("backdrop:room:standup", "b")
            client.delete("backdrop:room:retro")
            assert await eventually(lambda: lost, timeout=3)
            await asyncio.sleep(0.5)
            assert lost == [("standup", "http://b.example")]
            assert room_holder(redis_url, "retro") == "a"  # a lapsed claim is simply taken again
        finally:
            await a.close()
            await b.close()
    asyncio.run(scenario())


def test_a_stopping_node_hands_its_rooms_to_the_least_busy_node(redis_url: str) -> None:
    async def scenario() -> None:
        a = RedisPlacement(redis_url, "http://a.example", node_id="a")
        b = RedisPlacement(redis_url, "http://b.example", node_id="b")
        c = RedisPlacement(redis_url, "http://c.example", node_id="c")
        await a.start(lambda: {"standup": 3})
        await b.start(lambda: {"retro": 4})
        await c.start(lambda: {"planning": 1, "demo": 1})
        try:
            assert await a.place("standup") is None
            assert await a.hand_over("standup") == "http://c.example"  # 2 participants on c, 4 on b
            assert room_holder(redis_url, "standup") == "c"
            assert await c.place("standup") is None  # c takes it when the members arrive
            assert await a.hand_over("standup") is None  # not a's to give any more
            assert await b.place("standup") == "http://c.example"
        finally:
            for placement in (a, b, c):
                await placement.close()
        # A full node is passed over while another has room, however busier that one is.
        a = RedisPlacement(redis_url, "http://a.example", node_id="a")
        b = RedisPlacement(redis_url, "http://b.example", node_id="b", capacity=10)
        c = RedisPlacement(redis_url, "http://c.example", node_id="c", capacity=2)
        await a.start(lambda: {"standup": 3})
        await b.start(lambda: {"retro": 4})
        await c.start(lambda: {"planning": 1, "demo": 1})
        try:
            assert await a.place("standup") is None
            assert await a.hand_over("standup") == "http://b.example"
        finally:
            for placement in (a, b, c):
                await placement.close()
        alone = RedisPlacement(redis_url, "http://d.example", node_id="d")
        await alone.start(lambda: {"standup": 1})
        try:
            assert await alone.place("standup") is None
            assert await alone.hand_over("standup") is None  # nowhere to go
            assert room_holder(redis_url, "standup") == "d"
        finally:
            await alone.close()
    asyncio.run(scenario())


def test_each_node_publishes_what_an_admin_sees_of_it_for_the_others(redis_url: str) -> None:
    async def scenario() -> None:
        a = RedisPlacement(redis_url, "http://a.example:8080", node_id="a", heartbeat_seconds=0.1)
        b = RedisPlacement(redis_url, "http://b.example:8080", node_id="b", heartbeat_seconds=0.1)
        c = RedisPlacement(redis_url, "http://c.example:8080", node_id="c")  # another release: shapes of its own
        d = RedisPlacement(redis_url, "http://d.example:8080", node_id="d")  # an older node: publishes none
        odd = {"rooms": [{"room": "kept"}, {"name": "no room field"}, "not an object"],
               "recordings": [{"id": "r1", "started_at": 1.0}, {"id": "r2"}, {"started_at": 2.0}]}
        a_rooms = [{"room": "standup", "participants": [{"name": "alice"}]}]
        a_recordings = [{"id": f"r{i}", "started_at": float(i)} for i in range(PUBLISHED_RECORDINGS + 5, 0, -1)]
        await a.start(lambda: {"standup": 1}, describe=lambda: {"rooms": a_rooms, "recordings": a_recordings})
        await b.start(dict, describe=lambda: {"rooms": [], "recordings": []})
        await c.start(dict)
        await d.start(dict)
        redis.Redis.from_url(redis_url).set("backdrop:node-view:c", json.dumps(odd))
        try:
            seen, odd_seen = await b.other_views()
            assert (odd_seen.node_id, odd_seen.rooms, odd_seen.recordings) == (
                "c", [{"room": "kept"}], [{"id": "r1", "started_at": 1.0}])
            assert (seen.node_id, seen.url, seen.rooms) == ("a", "http://a.example:8080", a_rooms)
            # the newest recordings, at most PUBLISHED_RECORDINGS of them, oldest first
            assert [r["id"] for r in seen.recordings] == [f"r{i}" for i in range(6, PUBLISHED_RECORDINGS + 6)]
            assert [(node.node_id, node.rooms, node.recordings) for node in await a.other_views()][0] == ("b", [], [])
            a_rooms.append({"room": "retro", "participants": []})  # republished with the next heartbeat
            assert await eventually(lambda: resolves_to(_rooms_of(b.other_views(), "a"), ["standup", "retro"]))
            await a.close()  # a stopping node withdraws its view with its report
            assert [node.node_id for node in await b.other_views()] == ["c"]
        finally:
            for node in (b, c, d):
                await node.close()
    asyncio.run(scenario())


def test_a_node_that_cannot_be_described_keeps_reporting_itself(redis_url: str) -> None:
    def broken() -> dict:
        raise RuntimeError("a bug in the admin view")

    async def scenario() -> None:
        a = RedisPlacement(redis_url, "http://a.example", node_id="a", heartbeat_seconds=0.1, node_ttl_seconds=0.3)
        b = RedisPlacement(redis_url, "http://b.example", node_id="b")
        await a.start(lambda: {"standup": 1}, describe=broken)
        await b.start(dict)
        try:
            await asyncio.sleep(1.0)  # several of a's reports past its time to live
            assert [(node.id, node.rooms) for node in await b.nodes()] == [("a", ["standup"]), ("b", [])]
            assert await b.other_views() == []  # nothing published, nothing made up
        finally:
            await a.close()
            await b.close()
    asyncio.run(scenario())


async def _rooms_of(views, node_id: str) -> list[str]:
    return [room["room"] for node in await views if node.node_id == node_id for room in node.rooms]


def test_the_cluster_lists_name_each_room_once_and_every_recording_with_its_node() -> None:
    here = NodeView("b", "http://b.example", 50.0, [{"room": "retro"}, {"room": "moving"}],
                    [{"id": "b1", "started_at": 20.0}])
    others = [NodeView("a", "http://a.example", 49.0, [{"room": "standup", "was": "older"}, {"room": "moving"}],
                       [{"id": "a1", "started_at": 10.0}, {"id": "a2", "started_at": 30.0}]),
              NodeView("c", "http://c.example", 49.5, [{"room": "standup", "was": "newer"}], [])]
    assert cluster_rooms(here, others) == [
        {"room": "retro", "node": "b", "node_url": "http://b.example", "this": True},
        {"room": "moving", "node": "b", "node_url": "http://b.example", "this": True},  # live here wins
        {"room": "standup", "was": "newer", "node": "c", "node_url": "http://c.example", "this": False},
    ]
    assert [(r["id"], r["node"], r["this"]) for r in cluster_recordings(here, others)] == [
        ("a1", "a", False), ("b1", "b", True), ("a2", "a", False)]
    assert keeper_of("a2", others) is others[0] and keeper_of("b1", others) is None


def test_nodes_read_the_reports_of_older_and_newer_releases() -> None:
    """During a rolling upgrade nodes of two releases share a cluster: a report without the capacity
    (older) means no limit, and fields a newer release adds are ignored."""
    older = {"id": "a1", "url": "http://a.example", "rooms": ["standup"], "participants": 3, "started_at": 1.0,
             "seen_at": 2.0}
    node = NodeInfo.from_report(json.dumps(older))
    assert (node.capacity, node.has_room) == (0, True)
    newer = NodeInfo.from_report(json.dumps({**older, "capacity": 3, "region": "eu-west"}))
    assert (newer.capacity, newer.has_room) == (3, False)


def test_without_redis_a_node_does_not_start_and_says_why(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    placement = RedisPlacement(f"redis://127.0.0.1:{port}/0", "http://a.example")
    with pytest.raises(PlacementUnavailable, match="cannot reach Redis"):
        asyncio.run(placement.start(dict))
    with pytest.raises(BackdropError, match=f"cannot reach Redis.*--redis-url redis://127.0.0.1:{port}/0"):
        ServerThread(tmp_path / "data", workers=1, redis_url=f"redis://127.0.0.1:{port}/0",
                     node_url="http://127.0.0.1:1").start()


@pytest.mark.parametrize("redis_url, node_url, message", [
    (None, "http://a.example", "give --redis-url too"),
    ("redis://127.0.0.1:6379/0", None, "needs --node-url"),
    ("http://127.0.0.1:6379", "http://a.example", "--redis-url must be"),
    ("redis://127.0.0.1:6379/0", "a.example:8080", "--node-url must be a base URL"),
    ("redis://127.0.0.1:6379/0", "http://a.example/call", "--node-url must be a base URL"),
])
def test_cluster_settings_that_cannot_work_are_refused(redis_url, node_url, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_cluster_settings(redis_url, node_url)
    check_cluster_settings(None, None)
    check_cluster_settings("redis://10.0.0.5:6379/0", "https://node-a.example.com")


def test_backgrounds_uploaded_on_one_node_are_everyones(tmp_path: Path, redis_url: str) -> None:
    a = RedisBackgroundStore(redis_stores.connect(redis_url), tmp_path / "a")
    b = RedisBackgroundStore(redis_stores.connect(redis_url), tmp_path / "b")
    upload = media_files.encode(media_files.photo(320, 200), "PNG")
    record = a.add(upload, name="Harbour")
    assert b.get(record.id) is None  # b has not looked yet
    changes = b.follow_backgrounds()
    assert changes is not None and changes.added == {record.id} and not changes.removed
    assert b.follow_backgrounds() is None  # nothing new since
    assert b.get(record.id) == record and [r.id for r in b.list()] == [record.id]
    assert b.image_path(record.id).read_bytes() == a.image_path(record.id).read_bytes()  # fetched once, cached
    assert len(b.thumbnail(record.id, 64)) > 0

    with pytest.raises(ImageRejected):
        b.add(media_files.png_bomb())
    stored = redis.Redis.from_url(redis_url)
    assert stored.hlen("backdrop:backgrounds") == 1 and len(stored.keys("backdrop:background-image:*")) == 1

    assert b.delete(record.id) and not b.delete(record.id)
    changes = a.follow_backgrounds()
    assert changes is not None and changes.removed == {record.id}
    assert a.get(record.id) is None and not a.image_path(record.id).exists()
    assert stored.keys("backdrop:background-image:*") == []
    # A node starting afresh sees what the cluster has, and drops cached images of deleted ones.
    kept = a.add(upload, name="Kept")
    stale = tmp_path / "c" / "backgrounds-cache" / f"{record.id}.jpg"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(upload)
    c = RedisBackgroundStore(redis_stores.connect(redis_url), tmp_path / "c")
    assert [r.id for r in c.list()] == [kept.id] and not stale.exists()


def test_room_settings_and_the_admin_token_are_the_clusters(redis_url: str) -> None:
    a = RedisRoomSettingsStore(redis_stores.connect(redis_url))
    b = RedisRoomSettingsStore(redis_stores.connect(redis_url))
    seats = (SeatSpec(0.1, 0.2, 0.3, 0.4),)
    chosen = RoomSettings(background_id="0123456789abcdef", statistic="max", mode="scene", layout="seats", seats=seats)
    a.put("standup", chosen)
    a.put("retro", RoomSettings(background_id="0123456789abcdef"))
    assert b.get("standup") == RoomSettings()  # read from memory until b takes the room
    b.refresh("standup")
    assert b.get("standup") == chosen
    assert RedisRoomSettingsStore(redis_stores.connect(redis_url)).get("retro").background_id == "0123456789abcdef"
    assert sorted(b.forget_background("0123456789abcdef")) == ["retro", "standup"]
    a.refresh("standup")
    assert a.get("standup") == replace(chosen, background_id=None)

    client = redis_stores.connect(redis_url)
    token = redis_stores.shared_admin_token(client)
    assert len(token) >= 32 and redis_stores.shared_admin_token(redis_stores.connect(redis_url)) == token


@pytest.mark.slow
def test_participants_of_one_room_meet_on_its_node_whichever_node_they_ask(two_nodes, redis_url: str,
                                                                            astronaut: np.ndarray) -> None:
    a, b = two_nodes()

    async def scenario() -> None:
        alice = SyntheticParticipant(a.url, "standup", "alice", still(astronaut))
        bob = SyntheticParticipant(b.url, "standup", "bob", still(astronaut))
        carol = SyntheticParticipant(b.url, "retro", "carol", still(astronaut))
        await alice.join()
        await bob.join()  # asked b, sent to a
        await carol.join()  # another room: b takes it
        try:
            assert alice.node_url == a.url and bob.node_url == a.url and carol.node_url == b.url
            assert set(bob.others.values()) == {"alice"}
            await bob.wait_for_frames("alice", 10)
            await alice.wait_for_frames("bob", 10)
            await carol.wait_for_frames("self", 10)

            # WHEP asked of b for a's room: 307 to a, which plays alice's composite.
            player = WhepPlayer(f"{b.url}/whep/standup?participant=alice")
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{b.url}/whep/standup?participant=alice", data="v=0\r\nm=video 9",
                                     headers={"Content-Type": "application/sdp"}, allow_redirects=False) as response:
                    assert response.status == 307
                    assert response.headers["Location"] == f"{a.url}/whep/standup?participant=alice"
            await player.start()  # aiohttp follows the 307, offer and all
            assert player.location.startswith(f"{a.url}/whep/standup/")
            await player.wait_for(10)
            await player.stop()

            # A WHIP publisher asked of b joins a's room on a (aiohttp follows the 307, offer and all).
            publisher = RTCPeerConnection()
            publisher.addTrack(still(astronaut))
            await publisher.setLocalDescription(await publisher.createOffer())
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{b.url}/whip/standup?name=dave", data=publisher.localDescription.sdp,
                                     headers={"Content-Type": "application/sdp"}) as response:
                    assert response.status == 201, await response.text()
                    assert response.headers["Location"].startswith(f"{a.url}/whip/standup/")
                    await publisher.setRemoteDescription(RTCSessionDescription(await response.text(), "answer"))
            assert await eventually(lambda: "dave" in bob.others.values())
            await bob.wait_for_frames("dave", 10)
            await close_quietly(publisher)

            async def nodes_listed_by_b() -> dict[str, dict]:
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"{b.url}/api/nodes", headers=ADMIN) as response:
                        assert response.status == 200
                        return {n["url"]: n for n in await response.json()}
            listed = await nodes_listed_by_b()
            assert listed[b.url]["rooms"] == ["retro"] and listed[b.url]["this"] and not listed[a.url]["this"]
            assert await eventually(lambda: _lists_node(nodes_listed_by_b(), a.url, ["standup"], 2), timeout=5)

            # b lists every room of the cluster: its own live, a's as a last published it.
            async def rooms_listed_by(node: ServerThread) -> dict[str, tuple]:
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"{node.url}/api/rooms", headers=ADMIN) as response:
                        assert response.status == 200
                        rooms = await response.json()
                assert len({room["room"] for room in rooms}) == len(rooms)
                return {room["room"]: (room["node_url"], room["this"], sorted(p["name"] for p in room["participants"]))
                        for room in rooms}
            assert await eventually(lambda: resolves_to(rooms_listed_by(b), {
                "retro": (b.url, True, ["carol"]), "standup": (a.url, False, ["alice", "bob"])}), timeout=5)
            assert await eventually(lambda: resolves_to(rooms_listed_by(a), {
                "standup": (a.url, True, ["alice", "bob"]), "retro": (b.url, False, ["carol"])}), timeout=5)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{b.url}/readyz") as response:
                    assert response.status == 200
                async with http.get(f"{b.url}/metrics") as response:
                    exposition = await response.text()
                assert "backdrop_joins_redirected_total 2.0" in exposition  # bob and dave
                assert "backdrop_cluster_redis_up 1.0" in exposition
                # What is asked of a live room is asked of its node; b says which one.
                for method, path, body in (("PATCH", "/api/rooms/standup/participants/alice", {"camera": False}),
                                           ("PUT", "/api/rooms/standup", {"statistic": "max"}),
                                           ("POST", "/api/rooms/standup/recordings", {"participant": "alice"})):
                    async with http.request(method, f"{b.url}{path}", json=body, headers=ADMIN) as response:
                        refusal = await response.json()
                        assert (response.status, refusal["error"]) == (409, "room_elsewhere"), refusal
                        assert f"{a.url}{path}" in refusal["detail"]
                async with http.patch(f"{a.url}/api/rooms/standup/participants/alice", json={"camera": False},
                                      headers=ADMIN) as response:
                    assert response.status == 200
        finally:
            for participant in (alice, bob, carol):
                await participant.leave()

        # The room emptied on a, which gave it up: the next to ask b gets it placed on b.
        assert await eventually(lambda: room_holder(redis_url, "standup") is None)
        assert await eventually(lambda: resolves_to(rooms_listed_by(b), {}), timeout=5)
        erin = SyntheticParticipant(b.url, "standup", "erin", still(astronaut))
        await erin.join()
        try:
            assert erin.node_url == b.url
        finally:
            await erin.leave()

    asyncio.run(scenario())


def test_every_node_lists_the_clusters_recordings_and_names_the_node_keeping_each(two_nodes,
                                                                                    astronaut: np.ndarray) -> None:
    a, b = two_nodes()

    async def scenario() -> None:
        alice = SyntheticParticipant(a.url, "standup", "alice", still(astronaut))
        await alice.join()
        try:
            await alice.wait_for_frames("self", 5)
            async with aiohttp.ClientSession(headers=ADMIN) as http:
                async def call(node: ServerThread, method: str, path: str, body: dict | None = None):
                    async with http.request(method, f"{node.url}{path}", json=body) as response:
                        return response.status, (await response.json() if response.status != 204 else None)

                async def listed_by(node: ServerThread) -> list[tuple]:
                    status, listing = await call(node, "GET", "/api/recordings")
                    assert status == 200
                    return [(r["id"], r["node_url"], r["this"], r["state"]) for r in listing["recordings"]]

                status, started = await call(a, "POST", "/api/rooms/standup/recordings", {"participant": "alice"})
                assert status == 201
                recording = started["id"]
                assert await listed_by(a) == [(recording, a.url, True, "recording")]
                assert await eventually(lambda: resolves_to(listed_by(b), [(recording, a.url, False, "recording")]),
                                        timeout=5)
                # What is asked of a recording is asked of the node keeping it; b says which one.
                for method, path in (("GET", f"/api/recordings/{recording}"),
                                     ("POST", f"/api/recordings/{recording}/stop"),
                                     ("GET", f"/api/recordings/{recording}/file"),
                                     ("DELETE", f"/api/recordings/{recording}")):
                    status, refusal = await call(b, method, path)
                    assert (status, refusal["error"]) == (409, "recording_elsewhere"), refusal
                    assert f"{a.url}{path}" in refusal["detail"]
                assert (await call(b, "GET", "/api/recordings/nothing-like-it"))[1]["error"] == "unknown_recording"

                assert (await call(a, "POST", f"/api/recordings/{recording}/stop"))[0] == 200
                assert await eventually(lambda: resolves_to(listed_by(b), [(recording, a.url, False, "stopped")]),
                                        timeout=5)
                assert (await call(a, "DELETE", f"/api/recordings/{recording}"))[0] == 204
                assert await eventually(lambda: resolves_to(listed_by(b), []), timeout=5)
        finally:
            await alice.leave()

    asyncio.run(scenario())


async def _lists_node(listing, url: str, rooms: list[str], participants: int) -> bool:
    node = (await listing).get(url)
    return node is not None and (node["rooms"], node["participants"]) == (rooms, participants)


@pytest.mark.slow
def test_a_load_test_enters_a_cluster_through_every_node(two_nodes, tmp_path: Path) -> None:
    a, b = two_nodes()
    summary_path = tmp_path / "summary.json"
    status = cli_main(["loadtest", "--url", a.url, "--url", b.url, "--rooms", "1", "--participants", "2",
                       "--duration", "6", "--json", str(summary_path)])
    assert status == 0
    summary = json.loads(summary_path.read_text())
    totals = summary["totals"]
    # p000 entered through a, which took the room; p001 entered through b and was sent to a.
    assert totals["participants_per_node"] == {a.url: 2} and totals["joins_redirected"] == 1
    assert [p["node"] for p in summary["participants"]] == [a.url, a.url]
    assert totals["streams"] == 4 and totals["fps_min"] > 10
    assert totals["server_cpu_pct_mean"] is not None
    assert not a.conference.participants and not b.conference.participants


@pytest.mark.slow
def test_synthetic_participants_follow_their_room_when_its_node_stops(two_nodes, astronaut: np.ndarray) -> None:
    a, b = two_nodes()

    async def scenario() -> None:
        alice = SyntheticParticipant(a.url, "standup", "alice", still(astronaut))
        bob = SyntheticParticipant(a.url, "standup", "bob", still(astronaut))
        await alice.join()
        await bob.join()
        try:
            await bob.wait_for_frames("alice", 10)
            before = bob.received["alice"].frames
            await asyncio.to_thread(a.stop)  # a rolling deploy: a hands standup over to b
            assert await eventually(lambda: alice.moves == 1 and bob.moves == 1, timeout=10)
            assert alice.node_url == b.url and bob.node_url == b.url
            assert await eventually(lambda: {p.name for p in b.conference.participants.values()} == {"alice", "bob"})
            await bob.wait_for_frames("alice", before + 30, timeout=30)  # alice's composite again, from b
            await alice.wait_for_frames("self", alice.received["self"].frames + 30, timeout=30)
            assert not alice.errors and not bob.errors
        finally:
            await alice.leave()
            await bob.leave()

    asyncio.run(scenario())


@pytest.mark.slow
def test_what_admins_set_on_one_node_holds_on_every_node(two_nodes, astronaut: np.ndarray) -> None:
    a, b = two_nodes(admin_token=None)
    assert a.app[ADMIN_TOKEN] == b.app[ADMIN_TOKEN]  # none configured: the first node's, shared
    admin = {"Authorization": f"Bearer {a.app[ADMIN_TOKEN]}"}
    upload = media_files.encode(media_files.photo(640, 360), "PNG")

    def offered(participant: SyntheticParticipant) -> set[str]:
        return {background["id"] for background in participant.backgrounds}

    async def scenario() -> None:
        alice = SyntheticParticipant(a.url, "standup", "alice", still(astronaut))
        await alice.join()
        carol = SyntheticParticipant(a.url, "retro", "carol", still(astronaut))
        try:
            async with aiohttp.ClientSession() as http:
                form = aiohttp.FormData()
                form.add_field("file", upload, filename="harbour.png", content_type="image/png")
                async with http.post(f"{b.url}/api/backgrounds", data=form, headers=admin) as response:
                    assert response.status == 201
                    background = (await response.json())["id"]
                # Uploaded on b: alice's picker on a offers it, and a serves it.
                assert await eventually(lambda: background in offered(alice), timeout=10)
                async with http.get(f"{a.url}/api/backgrounds/{background}/image") as from_a, \
                        http.get(f"{b.url}/api/backgrounds/{background}/image") as from_b:
                    assert from_a.status == 200 and await from_a.read() == await from_b.read()
                # Set on b for a room that is live nowhere; a takes the room and applies them.
                async with http.put(f"{b.url}/api/rooms/retro", json={"background_id": background, "statistic": "max"},
                                    headers=admin) as response:
                    assert response.status == 200
                await carol.join()
                assert carol.node_url == a.url and carol.background == background
                assert a.conference.statistic_of(a.conference.find("retro", "carol")) == "max"
                await carol.wait_for_frames("self", 10)
                # Deleted on b: carol, on a, falls back to the default; the room setting goes too.
                async with http.delete(f"{b.url}/api/backgrounds/{background}", headers=admin) as response:
                    assert response.status == 204
                assert await eventually(lambda: carol.background != background and background not in offered(carol),
                                        timeout=10)
                assert background not in offered(alice)
                assert a.conference.room_settings.get("retro").background_id is None
                async with http.get(f"{a.url}/api/backgrounds/{background}") as response:
                    assert response.status == 404
        finally:
            await alice.leave()
            await carol.leave()

    asyncio.run(scenario())


def test_a_room_set_on_two_nodes_keeps_what_each_set(two_nodes) -> None:
    """A field left out of a PUT keeps its value, even when another node set it since this node last
    read the room's settings (the room is live nowhere, so either node may be asked)."""
    a, b = two_nodes()
    with requests.Session() as http:
        http.headers.update(ADMIN)
        assert http.put(f"{a.url}/api/rooms/retro", json={"statistic": "max"}, timeout=10).status_code == 200
        answer = http.put(f"{b.url}/api/rooms/retro", json={"latency_probe": True}, timeout=10).json()
        assert (answer["statistic"], answer["latency_probe"]) == ("max", True)
        answer = http.put(f"{a.url}/api/rooms/retro", json={"mode": "scene"}, timeout=10).json()
        assert (answer["statistic"], answer["latency_probe"], answer["mode"]) == ("max", True, "scene")


def test_a_full_node_places_new_rooms_on_a_node_with_room_to_spare(two_nodes, redis_url: str,
                                                                    astronaut: np.ndarray) -> None:
    a, b = two_nodes(max_participants=1)

    async def scenario() -> None:
        alice = SyntheticParticipant(a.url, "standup", "alice", still(astronaut))
        bob = SyntheticParticipant(a.url, "retro", "bob", None)
        carol = SyntheticParticipant(b.url, "standup", "carol", None)
        dave = SyntheticParticipant(a.url, "design", "dave", None)
        try:
            await alice.join()
            assert alice.node_url == a.url
            # a is full: a new room asked of a goes to b, which has room to spare.
            await bob.join()
            assert bob.node_url == b.url
            assert room_holder(redis_url, "retro") == b.conference.hosting.placement.node_id
            # A room a hosts cannot grow past a's limit, whichever node is asked.
            with pytest.raises(RuntimeError, match=r"full \(at most 1 participants\)"):
                await carol.join()
            assert carol.errors[-1]["error"] == "server_full"
            async with aiohttp.ClientSession(headers=ADMIN) as http:
                # Once b's report says it is full too (as a sees it), no node can take a new room.
                async def nodes_seen_by_a() -> list[tuple[int, int]]:
                    async with http.get(f"{a.url}/api/nodes") as response:
                        return [(node["capacity"], node["participants"]) for node in await response.json()]
                assert await eventually(lambda: resolves_to(nodes_seen_by_a(), [(1, 1), (1, 1)]), timeout=10)
                with pytest.raises(RuntimeError, match="every node of the cluster is full"):
                    await dave.join()
                assert room_holder(redis_url, "design") is None
                async with http.get(f"{a.url}/metrics") as response:
                    assert "backdrop_joins_refused_full_total 2.0" in await response.text()  # carol, dave
        finally:
            for participant in (alice, bob, carol, dave):
                await participant.leave()

    asyncio.run(scenario())


def test_a_draining_node_sends_new_rooms_to_the_others_and_keeps_its_own(two_nodes, redis_url: str,
                                                                           astronaut: np.ndarray) -> None:
    a, b = two_nodes()
    a_id = a.conference.hosting.placement.node_id

    async def scenario() -> None:
        alice = SyntheticParticipant(a.url, "standup", "alice", still(astronaut))
        bob = SyntheticParticipant(a.url, "retro", "bob", None)
        carol = SyntheticParticipant(b.url, "standup", "carol", None)
        try:
            await alice.join()
            async with aiohttp.ClientSession(headers=ADMIN) as http:
                # Another node's drain must be asked of that node.
                async with http.put(f"{b.url}/api/nodes/{a_id}", json={"draining": True}) as response:
                    assert (response.status, (await response.json())["error"]) == (409, "node_elsewhere")
                async with http.put(f"{a.url}/api/nodes/{a_id}", json={"draining": True}) as response:
                    assert response.status == 200
                async with http.get(f"{b.url}/api/nodes") as response:  # told at once, not at the next report
                    assert {node["id"]: node["draining"] for node in await response.json()}[a_id] is True
            # A new room asked of a goes to b; a's room takes a new member asked of b.
            await bob.join()
            assert bob.node_url == b.url and room_holder(redis_url, "retro") != a_id
            await carol.join()
            assert carol.node_url == a.url
            assert {p.name for p in a.conference.participants.values()} == {"alice", "carol"}
        finally:
            for participant in (alice, bob, carol):
                await participant.leave()

    asyncio.run(scenario())


def test_a_hung_redis_stalls_no_call_and_refuses_what_it_cannot_store(tmp_path: Path, astronaut: np.ndarray) -> None:
    """Redis stops answering (SIGSTOP: connections hang rather than fail) while a participant switches
    the room's mode: the write waits in a thread, so the node goes on answering and streaming; the
    change is refused as such once Redis's timeout passes, and nothing of it is kept."""
    port, node_port = free_port(), free_port()
    redis_process = start_redis(port, tmp_path)
    server = ServerThread(tmp_path / "a", workers=1, port=node_port, redis_url=f"redis://127.0.0.1:{port}/0",
                          node_url=f"http://127.0.0.1:{node_port}", admin_token="cluster-admin")

    async def scenario() -> None:
        alice = SyntheticParticipant(server.url, "standup", "alice", still(astronaut))
        await alice.join()
        try:
            await alice.wait_for_frames("self", 5)
            redis_process.send_signal(signal.SIGSTOP)
            try:
                frames_before = alice.received["self"].frames
                await alice.send({"type": "mode", "mode": "scene"})
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"{server.url}/healthz") as response:
                        assert response.status == 200
                assert not alice.errors, "the node answered only once the write had failed"
                assert await eventually(lambda: alice.errors, timeout=30)
                frames_while_stalled = alice.received["self"].frames - frames_before
            finally:
                redis_process.send_signal(signal.SIGCONT)
            assert (alice.errors[0]["request"], alice.errors[0]["error"]) == ("mode", "store_unavailable")
            assert frames_while_stalled >= 5
            assert server.conference.room_settings.get("standup").mode == "individual"
            assert server.conference.scene_of("standup") is None
            # Redis answers again: the same change is stored and applied.
            await alice.send({"type": "mode", "mode": "scene"})
            assert await eventually(lambda: server.conference.scene_of("standup") is not None, timeout=10)
            assert json.loads(redis.Redis.from_url(f"redis://127.0.0.1:{port}/0").hget(
                "backdrop:room-settings", "standup"))["mode"] == "scene"
        finally:
            await alice.leave()

    server.start()
    try:
        asyncio.run(scenario())
    finally:
        server.stop()
        redis_process.send_signal(signal.SIGCONT)
        redis_process.terminate()
        redis_process.wait(10)


@pytest.mark.slow
def test_the_pages_follow_their_room_to_the_node_that_hosts_it(two_nodes, tmp_path: Path,
                                                              astronaut: np.ndarray) -> None:
    """The call page, and the WHEP player page with a join token (which browsers drop on a redirect to
    another origin), opened on b for a room a hosts."""
    playwright_api = pytest.importorskip("playwright.async_api")
    assert Path(CHROMIUM).exists(), "Debian chromium is missing: run scripts/setup.sh"
    y4m, _ = person_footage(tmp_path)
    a, b = two_nodes(join_secret=JOIN_SECRET)

    def token(identity: str) -> str:
        return issue_join_token(JOIN_SECRET, "standup", identity, 600)

    async def scenario() -> None:
        alice = SyntheticParticipant(a.url, "standup", "alice", still(astronaut),
                                     token=token("alice"))
        await alice.join()
        try:
            async with playwright_api.async_playwright() as playwright:
                context, page = await open_participant(
                    playwright, tmp_path / "profile-bob", y4m,
                    f"{b.url}/?room=standup&name=bob&autojoin=1&token={token('bob')}")
                try:
                    await grab(page, "video[data-role=remote][data-participant=alice]")
                    await grab(page, "video[data-role=self-composite]")
                    assert await page.get_attribute("[data-role=status]", "data-node") == a.url
                    assert await page.get_attribute("[data-role=status]", "data-connection") == "connected"
                    assert {p.name for p in a.conference.participants.values()} == {"alice", "bob"}
                    assert not b.conference.participants
                    await alice.wait_for_frames("bob", 10)  # the page publishes to a

                    player = await context.new_page()
                    await player.goto(f"{b.url}/whep.html?room=standup&participant=alice&token={token('viewer')}")
                    await grab(player, "video[data-role=whep]")
                    assert await player.text_content("[data-role=status]") == "connected"
                    assert a.conference.find("standup", "alice").broadcast.viewers >= 2  # bob and the player

                    # b's admin page lists both nodes, a's with its room and a link to its own page.
                    admin = await context.new_page()
                    await admin.goto(f"{b.url}/admin")
                    await admin.fill("[data-role=admin-token]", "cluster-admin")
                    await admin.click("[data-role=save-token]")
                    await admin.wait_for_selector(f"[data-role=nodes] tr[data-node='{a.conference.hosting.placement.node_id}']")
                    row = f"[data-role=nodes] tr[data-node='{a.conference.hosting.placement.node_id}']"
                    assert await admin.get_attribute(f"{row} a", "href") == f"{a.url}/admin"

                    async def rooms_and_participants() -> list[str]:
                        cells = await admin.eval_on_selector_all(f"{row} td", "tds => tds.map(td => td.textContent)")
                        return cells[2:4]
                    assert await eventually(lambda: resolves_to(rooms_and_participants(), ["standup", "2"]), timeout=10)
                    assert await admin.eval_on_selector_all("[data-role=nodes] tbody tr", "rows => rows.length") == 2
                    # Its live rooms list a's room too, moderated from a's own page (linked), not from b's.
                    a_id = a.conference.hosting.placement.node_id
                    rows = f"[data-role=rooms] tr[data-room=standup][data-node='{a_id}']"
                    await admin.wait_for_selector(f"{rows}[data-participant=bob]")
                    assert await admin.get_attribute(f"{rows}[data-participant=alice] [data-role=node-link]",
                                                     "href") == f"{a.url}/admin"
                    assert await admin.query_selector(f"{rows} [data-role=moderate-remove]") is None
                    # So do its recordings: one of alice's, kept by a, is linked to a's page.
                    started = await asyncio.to_thread(requests.post, f"{a.url}/api/rooms/standup/recordings",
                                                      json={"participant": "alice"}, headers=ADMIN, timeout=10)
                    recording = f"[data-role=recordings] tr[data-recording='{started.json()['id']}'][data-node='{a_id}']"
                    await admin.wait_for_selector(recording)
                    assert await admin.get_attribute(f"{recording} [data-role=node-link]", "href") == f"{a.url}/admin"
                    assert await admin.query_selector(f"{recording} [data-role=recording-stop]") is None
                finally:
                    await context.close()
        finally:
            await alice.leave()

    asyncio.run(scenario())


@pytest.mark.slow
def test_the_call_page_follows_its_room_when_the_room_moves_or_its_node_stops(two_nodes, tmp_path: Path, redis_url: str,
                                                                             astronaut: np.ndarray) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    assert Path(CHROMIUM).exists(), "Debian chromium is missing: run scripts/setup.sh"
    y4m, _ = person_footage(tmp_path)
    a, b = two_nodes()
    node_of_the_call = "() => document.querySelector('[data-role=status]').dataset.node"

    async def scenario() -> None:
        alice = SyntheticParticipant(a.url, "standup", "alice", still(astronaut))
        await alice.join()
        async with playwright_api.async_playwright() as playwright:
            # The page is b's, and joins the room on a.
            context, page = await open_participant(playwright, tmp_path / "profile-bob", y4m,
                                                   f"{b.url}/?room=standup&name=bob&autojoin=1")
            try:
                await grab(page, "video[data-role=remote][data-participant=alice]")
                assert await page.evaluate(node_of_the_call) == a.url

                # a was cut off from Redis long enough for b to take the room: a sends its members to b.
                redis.Redis.from_url(redis_url).set("backdrop:room:standup", b.conference.hosting.placement.node_id)
                assert await eventually(lambda: resolves_to(page.evaluate(node_of_the_call), b.url), timeout=15)
                assert await eventually(lambda: {p.name for p in b.conference.participants.values()} == {"alice", "bob"})
                assert not a.conference.members("standup")
                assert await eventually(lambda: alice.moves == 1)  # alice followed too (counted once joined)
                assert a.conference.hosting.rooms_moved == 1
                await grab(page, "video[data-role=self-composite]")

                # b stops (a rolling deploy): it hands the room over to a and sends bob there. (Without
                # the hand-over the page would start again from its own node, b, which is gone.)
                b.stop()
                assert room_holder(redis_url, "standup") == a.conference.hosting.placement.node_id
                assert await eventually(lambda: resolves_to(page.evaluate(node_of_the_call), a.url), timeout=15)
                assert await eventually(lambda: {p.name for p in a.conference.participants.values()} == {"alice", "bob"},
                                        timeout=15)
                await grab(page, "video[data-role=self-composite]")
            finally:
                await context.close()
        await alice.leave()

    asyncio.run(scenario())


@pytest.mark.slow
def test_the_call_page_waits_while_the_cluster_cannot_place_its_room(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    assert Path(CHROMIUM).exists(), "Debian chromium is missing: run scripts/setup.sh"
    y4m, _ = person_footage(tmp_path)
    port, node_port = free_port(), free_port()
    redis_process = start_redis(port, tmp_path)
    server = ServerThread(tmp_path / "a", workers=1, port=node_port, redis_url=f"redis://127.0.0.1:{port}/0",
                          node_url=f"http://127.0.0.1:{node_port}", admin_token="cluster-admin")
    connection = "() => document.querySelector('[data-role=status]').dataset.connection"

    async def scenario() -> None:
        nonlocal redis_process
        redis_process.terminate()
        redis_process.wait(10)
        assert await eventually(lambda: not server.conference.hosting.placement.healthy, timeout=10)
        async with playwright_api.async_playwright() as playwright:
            context, page = await open_participant(playwright, tmp_path / "profile-bob", y4m,
                                                   f"{server.url}/?room=standup&name=bob&autojoin=1")
            try:
                assert await eventually(lambda: resolves_to(page.evaluate(connection), "reconnecting"), timeout=10)
                assert not server.conference.participants
                # Meanwhile what admins ask of the shared stores is refused as such.
                async with aiohttp.ClientSession(headers=ADMIN) as http:
                    async with http.put(f"{server.url}/api/rooms/standup", json={"statistic": "max"}) as response:
                        assert (response.status, (await response.json())["error"]) == (503, "placement_unavailable")
                    form = aiohttp.FormData()
                    form.add_field("file", media_files.encode(media_files.photo(320, 200), "PNG"),
                                   filename="harbour.png", content_type="image/png")
                    async with http.post(f"{server.url}/api/backgrounds", data=form) as response:
                        assert (response.status, (await response.json())["error"]) == (503, "store_unavailable")
                        assert response.headers["Retry-After"].isdigit()  # every 503 says when to try again
                redis_process = start_redis(port, tmp_path)  # Redis is back: the page's next attempt joins
                await grab(page, "video[data-role=self-composite]")
                assert {p.name for p in server.conference.participants.values()} == {"bob"}
            finally:
                await context.close()

    server.start()
    try:
        asyncio.run(scenario())
    finally:
        server.stop()
        redis_process.terminate()
        redis_process.wait(10)
