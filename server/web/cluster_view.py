"""What the admin API shows of the whole cluster: every node's live rooms and recordings, each marked
with the node that has it (``node``, ``node_url``, ``this``). Each node publishes what an admin sees of
it with its report (``RedisPlacement``'s ``describe``); this node's own figures are read live. Without
a cluster there is no other node, and with Redis out of reach a node lists its own."""

from __future__ import annotations

import time

from ..rtc.conference import Conference
from ..rtc.recordings import Recordings
from ..rtc.room_figures import admin_view
from ..rtc.room_placement import NodeView, PlacementUnavailable


def node_description(conference: Conference, recordings: Recordings) -> dict:
    """What an admin sees of this node, as it publishes it: its live rooms and its recordings."""
    return {"rooms": admin_view(conference), "recordings": recording_list(recordings)}


def recording_list(recordings: Recordings) -> list[dict]:
    """This node's recordings, oldest first."""
    return [recordings.describe(info) for info in recordings.store.list()]


def this_view(conference: Conference, rooms: list[dict] | None = None,
              recordings: list[dict] | None = None) -> NodeView:
    """This node's view, live: the part a listing needs (rooms, or recordings)."""
    placement = conference.hosting.placement
    return NodeView(placement.node_id, placement.node_url, time.time(), rooms or [], recordings or [])


async def other_views(conference: Conference) -> list[NodeView]:
    """The other live nodes' views as they last published them; none when Redis is out of reach."""
    try:
        return await conference.hosting.placement.other_views()
    except PlacementUnavailable:
        return []


def cluster_rooms(here: NodeView, others: list[NodeView]) -> list[dict]:
    """The rooms of this node and of the others, each once and marked with its node. A room moving
    between nodes may be in two nodes' views for a heartbeat: this node's live view wins, then the
    newest report."""
    rooms: list[dict] = []
    listed: set[str] = set()
    for node in [here, *sorted(others, key=lambda node: node.seen_at, reverse=True)]:
        for room in node.rooms:
            if room["room"] not in listed:
                listed.add(room["room"])
                rooms.append(_marked(room, node, here))
    return rooms


def cluster_recordings(here: NodeView, others: list[NodeView]) -> list[dict]:
    """Every node's recordings, oldest first, each marked with the node that keeps it."""
    recordings = [_marked(recording, node, here) for node in [here, *others] for recording in node.recordings]
    return sorted(recordings, key=lambda recording: recording["started_at"])


def keeper_of(recording_id: str, others: list[NodeView]) -> NodeView | None:
    """The other node that keeps ``recording_id``, if one published it."""
    return next((node for node in others if any(r.get("id") == recording_id for r in node.recordings)), None)


def _marked(item: dict, node: NodeView, here: NodeView) -> dict:
    return {**item, "node": node.node_id, "node_url": node.url, "this": node is here}
