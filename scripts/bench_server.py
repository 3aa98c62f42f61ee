"""Benchmark the real-time server with synthetic aiortc participants on this machine.

    python scripts/bench_server.py [--participants 4] [--duration 20] [--bitrate 1000000] [--url URL]

Without --url it starts `backdrop serve` on a free port (and can then read the server's CPU). Each
participant sends looped, pre-encoded 640x480@30 VP8 footage of a person (no encoding cost in the
generator) and counts the composites it receives (no decoding cost). Prints:

- delivered fps of every (receiver, stream) pair and server-added latency (frame received ->
  composite packet sent, p50/p95, from the server's own stats) in a room of N participants;
- CPU: server (process and workers) and generator, in % of one core;
- the cost of one more viewer against one more publisher (phases of 1 publisher with 0 and 8
  viewers, and 2 publishers).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from server.loadtest.counting_decoder import count_instead_of_decoding  # noqa: E402
from server.loadtest.participant import SyntheticParticipant  # noqa: E402
from server.loadtest.sources import PacketLoopTrack, encode_loop  # noqa: E402
from server.training.footage import Motion, load_still, render_still_clip  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def process_tree_ticks(pid: int) -> int:
    """utime + stime of ``pid`` and its direct children (the workers), in clock ticks."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total


class CpuMeter:
    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def start(self) -> None:
        self._wall = time.monotonic()
        self._server = process_tree_ticks(self.pid) if self.pid else 0
        self._self = time.process_time()

    def stop(self) -> tuple[float | None, float]:
        wall = time.monotonic() - self._wall
        server = (process_tree_ticks(self.pid) - self._server) / TICKS / wall * 100 if self.pid else None
        return server, (time.process_time() - self._self) / wall * 100


def footage_packets(bitrate: int) -> list:
    motion = Motion(crop=0.85, pan_x=0.0015, pan_y=0.0005, zoom=0.001, noise=1.0, flip=False, gain=1.0, bias=0.0)
    image = cv2.resize(load_still("astronaut"), (640, 480), interpolation=cv2.INTER_AREA)
    frames = render_still_clip(image, 640, 480, 90, motion, np.random.default_rng(0))
    frames += frames[-2:0:-1]  # forth and back: a smooth 6 s loop
    return encode_loop(frames, bitrate)


async def room_phase(url: str, room: str, publishers: int, viewers: int, watch: bool, packets: list,
                     warmup: float, duration: float, meter: CpuMeter) -> dict:
    people = [SyntheticParticipant(url, room, f"pub{i}", PacketLoopTrack(packets), watch_others=watch,
                                   keep_images=False) for i in range(publishers)]
    people += [SyntheticParticipant(url, room, f"view{i}", None, watch_others=True, keep_images=False)
               for i in range(viewers)]
    try:
        for person in people:
            await person.join()
        await asyncio.sleep(warmup)
        counts = {(p.name, s): r.frames for p in people for s, r in p.received.items()}
        meter.start()
        await asyncio.sleep(duration)
        server_cpu, generator_cpu = meter.stop()
        fps = {(p.name, s): (r.frames - counts.get((p.name, s), 0)) / duration for p in people for s, r in p.received.items()}
        stats = people[0].stats
    finally:
        for person in people:
            await person.leave()
    return {"fps": fps, "stats": stats, "server_cpu": server_cpu, "generator_cpu": generator_cpu}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


async def main_async(args: argparse.Namespace) -> int:
    count_instead_of_decoding()
    server = None
    url = args.url
    if url is None:
        port = free_port()
        command = [sys.executable, "-m", "server", "serve", "--port", str(port), "--data-dir", args.data_dir]
        if args.workers:
            command += ["--workers", str(args.workers)]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
    if args.generator_nice:
        os.nice(args.generator_nice)  # after starting the server: only the generator yields the CPU
    meter = CpuMeter(server.pid if server else None)
    try:
        await wait_ready(url)
        packets = footage_packets(args.bitrate)
        print(f"footage: 640x480@30 VP8 {args.bitrate // 1000} kbps, {len(packets)} looped packets; server {url}")
        room = await room_phase(url, "bench-room", args.participants, 0, True, packets, args.warmup, args.duration, meter)
        rates = sorted(room["fps"].values())
        print(f"\n{args.participants} participants in one room, {len(rates)} received streams over {args.duration:.0f} s:")
        print(f"  delivered fps: min {rates[0]:.1f}  median {np.median(rates):.1f}  max {rates[-1]:.1f}"
              f"  (streams >= 28 fps: {sum(r >= 28 for r in rates)}/{len(rates)})")
        for (receiver, stream), rate in sorted(room["fps"].items()):
            print(f"    {receiver:>6} <- {stream:<6} {rate:5.1f} fps")
        p50 = [s["latency_ms"]["p50"] for s in room["stats"].values() if s.get("latency_ms")]
        p95 = [s["latency_ms"]["p95"] for s in room["stats"].values() if s.get("latency_ms")]
        if p50:
            print(f"  server-added latency per stream: p50 {min(p50):.1f}-{max(p50):.1f} ms, p95 {min(p95):.1f}-{max(p95):.1f} ms")
        print(f"  CPU: server {fmt(room['server_cpu'])}, generator {fmt(room['generator_cpu'])} (100% = one core)")
        streams = room["stats"].values()
        print(f"  per stream: keyframe requests {[s.get('keyframe_requests') for s in streams]}, "
              f"frames dropped {[s.get('frames_dropped') for s in streams]}, "
              f"masks reused {[s.get('masks_reused') for s in streams]} "
              f"of {[s.get('frames_out') for s in streams]} composites")
        if server is not None:
            base = await room_phase(url, "cost-a", 1, 0, False, packets, args.warmup, args.duration, meter)
            viewed = await room_phase(url, "cost-b", 1, 8, False, packets, args.warmup, args.duration, meter)
            two = await room_phase(url, "cost-c", 2, 0, False, packets, args.warmup, args.duration, meter)
            per_viewer = (viewed["server_cpu"] - base["server_cpu"]) / 8
            per_publisher = two["server_cpu"] - base["server_cpu"]
            print(f"\nCPU per extra viewer {per_viewer:.1f}% of a core, per extra publisher {per_publisher:.1f}%:"
                  f" viewer/publisher = {100 * per_viewer / per_publisher:.1f}%")
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one here)")
    parser.add_argument("--participants", type=int, default=4)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--bitrate", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--data-dir", default="/tmp/backdrop-bench")
    parser.add_argument("--generator-nice", type=int, default=10,
                        help="niceness of this generator process (the server started here keeps 0)")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
