"""How many participants does this machine hold? Step the load up until it breaks.

    python scripts/capacity.py [--url http://127.0.0.1:8080] [--start 2] [--step 1] [--max 16]
                               [--per-room 2] [--duration 20] [--bitrate 300k]

Each step is a ``backdrop loadtest`` run (640x480@30, rooms of --per-room participants) against a running
server (or, without --url, one started here). It stops at the first count where any stream delivers
fewer than 28 fps or glass-to-glass p95 exceeds 100 ms, and prints the largest passing count with its
figures.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.loadtest.local_server import start_local_server  # noqa: E402
from server.loadtest.runner import Loadtest, LoadtestConfig, parse_rate  # noqa: E402

MIN_FPS, MAX_P95_MS = 28.0, 100.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--start", type=int, default=2)
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--max", type=int, default=16)
    parser.add_argument("--per-room", type=int, default=2)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--bitrate", default="300k")
    args = parser.parse_args()
    server, url = (None, args.url) if args.url else start_local_server()
    best = None
    try:
        for count in range(args.start, args.max + 1, args.step):
            rooms = max(1, math.ceil(count / args.per_room))
            config = LoadtestConfig(url, rooms, count, args.duration, bitrate=parse_rate(args.bitrate),
                                    room_prefix=f"capacity{count}")
            totals = asyncio.run(Loadtest(config).run())["totals"]
            passed = totals["fps_min"] >= MIN_FPS and totals["latency_ms"]["p95"] <= MAX_P95_MS
            print(f"{count:3d} participants ({rooms} rooms): fps min {totals['fps_min']:5.1f}, glass-to-glass "
                  f"p50 {totals['latency_ms']['p50']:6.1f} ms, p95 {totals['latency_ms']['p95']:6.1f} ms, server CPU "
                  f"{totals['server_cpu_pct_mean']}%, generator CPU {totals['generator_cpu_pct_mean']}% -> "
                  f"{'pass' if passed else 'FAIL'}", flush=True)
            if not passed:
                break
            best = (count, totals)
            time.sleep(2.0)  # let the server settle between steps
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    if best is None:
        print(f"capacity: below {args.start} participants")
        return 1
    count, totals = best
    print(f"capacity: {count} participants (fps min {totals['fps_min']:.1f}, p50 {totals['latency_ms']['p50']:.1f} ms, "
          f"p95 {totals['latency_ms']['p95']:.1f} ms)")
    print(f"to keep calls at this quality: backdrop serve --max-participants {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
