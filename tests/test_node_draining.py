"""Draining a node (``PUT /api/nodes/{node}`` with ``{"draining": true}``): it takes no new rooms, its
rooms go on and take new members, ``/readyz`` sends load balancers elsewhere, and it takes new rooms
again when told. (A cluster's draining node sends new rooms to the others: ``test_cluster``.)

A real server on loopback; the clients are real aiortc peers (synthetic participants) and HTTP.
"""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
import pytest

from server.loadtest.participant import RefusedJoin, SyntheticParticipant
from tests.test_cluster import still

ADMIN = {"Authorization": "Bearer drain-admin"}


def test_a_draining_node_takes_no_new_room_but_keeps_its_rooms(start_server, astronaut: np.ndarray) -> None:
    server = start_server(workers=1, admin_token="drain-admin")

    async def scenario() -> None:
        alice = SyntheticParticipant(server.url, "standup", "alice", still(astronaut))
        bob = SyntheticParticipant(server.url, "standup", "bob", None)
        carol = SyntheticParticipant(server.url, "retro", "carol", None)
        try:
            await alice.join()
            async with aiohttp.ClientSession(headers=ADMIN) as http:
                async with http.put(f"{server.url}/api/nodes/this", json={"draining": True}) as response:
                    assert response.status == 200
                    node = await response.json()
                    assert (node["draining"], node["this"], node["rooms"]) == (True, True, ["standup"])
                async with http.get(f"{server.url}/readyz") as response:
                    assert (response.status, await response.json()) == (503, {"ready": False, "draining": True})
                async with http.get(f"{server.url}/metrics") as response:
                    assert "backdrop_node_draining 1.0" in await response.text()
                # Its room takes new members; a new room is refused, and the call under way goes on.
                await bob.join()
                with pytest.raises(RefusedJoin, match="draining") as refusal:
                    await carol.join()
                assert refusal.value.code == "server_full"
                await carol.leave()
                await alice.wait_for_frames("self", alice.received["self"].frames + 10)
                # Asked by its id it takes new rooms again.
                node_id = server.conference.hosting.placement.node_id
                async with http.put(f"{server.url}/api/nodes/{node_id}", json={"draining": False}) as response:
                    assert (response.status, (await response.json())["draining"]) == (200, False)
                async with http.get(f"{server.url}/readyz") as response:
                    assert response.status == 200
                carol = SyntheticParticipant(server.url, "retro", "carol", None)
                await carol.join()
                assert {p.name for p in server.conference.participants.values()} == {"alice", "bob", "carol"}
        finally:
            for participant in (alice, bob, carol):
                await participant.leave()

    asyncio.run(scenario())


@pytest.mark.parametrize("node, body, headers, status, code", [
    ("this", {"draining": "yes"}, ADMIN, 400, "bad_node"),
    ("this", {"draining": True, "later": 1}, ADMIN, 400, "bad_node"),
    ("this", {}, ADMIN, 400, "bad_node"),
    ("0123abcd", {"draining": True}, ADMIN, 404, "unknown_node"),
    ("this", {"draining": True}, {"Authorization": "Bearer wrong"}, 401, "unauthorized"),
])
def test_draining_asks_are_checked(start_server, node: str, body: dict, headers: dict, status: int,
                                   code: str) -> None:
    server = start_server(workers=1, admin_token="drain-admin")

    async def ask() -> tuple[int, str]:
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.put(f"{server.url}/api/nodes/{node}", json=body) as response:
                return response.status, (await response.json())["error"]

    assert asyncio.run(ask()) == (status, code)
    assert not server.conference.hosting.placement.draining
