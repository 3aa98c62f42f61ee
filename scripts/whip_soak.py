"""Soak a WHIP publisher: FFmpeg's muxer (which never answers ICE consent checks) publishes for a long time.

    python scripts/whip_soak.py [--seconds 150]

Starts a server in this process, publishes the talking-head sample with ``server.loadtest.whip_publisher``
in another process, and every 5 s prints the participant's received/composited frame counts. Passes when
the publisher stays in the room at about 30 fps for the whole run, well past aioice's ~30 s consent expiry.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.server_harness import ServerThread  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=150.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="whip-soak-") as data:
        server = ServerThread(Path(data), workers=2).start()
        publisher = subprocess.Popen([sys.executable, "-m", "server.loadtest.whip_publisher",
                                      f"{server.url}/whip/soak?name=ffmpeg", "--seconds", str(args.seconds)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started, samples = time.monotonic(), []
        while publisher.poll() is None:
            time.sleep(5)
            participant = server.conference.find("soak", "ffmpeg")
            sample = (round(time.monotonic() - started), participant.stats.frames_in if participant else None,
                      participant.stats.frames_out if participant else None)
            samples.append(sample)
            print(f"t={sample[0]:4d}s  frames received {sample[1]}  composited {sample[2]}", flush=True)
        server.stop()
    windows = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(samples, samples[1:-1]) if a[1] and b[1]]
    present = all(s[1] is not None for s in samples[:-1])
    print(f"present throughout: {present}; input fps per 5 s window: min {min(windows):.1f}, "
          f"median {sorted(windows)[len(windows) // 2]:.1f}")
    return 0 if present and min(windows) >= 25 else 1


if __name__ == "__main__":
    sys.exit(main())
