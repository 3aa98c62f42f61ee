"""How often a stream's background changes quality level: the level selector over real estimates.

    python scripts/bench_levels.py [--bitrates 150k,300k,600k,1.2M] [--seconds 5] [--resolution 640x480]
                                   [--without-quantizer]

Renders a picture panning to and fro (the server tests' participant: +-6 px on a 1.7 s sine),
encodes it as aiortc sends VP8 (real-time, CBR) in one segment per bitrate, each opening with a
keyframe (as aiortc rebuilds its encoder on a bitrate change while the uplink ramps up), and scores
every other frame and every keyframe with ``QualityTracker``, fed each frame's quantizer as the
receiver reads it (as the worker does; ``--without-quantizer``: the estimate alone). Each frame's
tracked estimate goes to ``LevelSelector`` twice: in the stream's time (as the server runs it) and
as the band-and-margin rule alone (no time given). Prints, for both, the level switches per minute,
the shortest time a level showed, and the mean gap between the shown level's target and the
estimate (what the steadier background costs in matching).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from server.imaging.background_variants import LevelSelector, level_target  # noqa: E402
from server.imaging.quality import QualityTracker  # noqa: E402
from server.loadtest.runner import parse_rate  # noqa: E402
from server.training.encoding import EncoderSetup, encode_decode  # noqa: E402
from server.training.footage import load_still  # noqa: E402

FPS = 30


def panning_frames(picture: np.ndarray, count: int, start: int) -> list[np.ndarray]:
    """``count`` frames of ``picture`` rolled +-6 px on a sine of 50 frames, from frame ``start``."""
    return [np.roll(picture, int(6 * np.sin((start + i) / 8)), axis=1) for i in range(count)]


def tracked_estimates(picture: np.ndarray, bitrates: list[int], seconds: float,
                      with_quantizer: bool = True) -> list[float]:
    """The tracker's estimate for each frame of the clip (segments at ``bitrates``, in order), fed
    each frame's quantizer unless ``with_quantizer`` is false."""
    tracker = QualityTracker("vp8")
    estimates: list[float] = []
    per_segment = int(round(seconds * FPS))
    for number, bitrate in enumerate(bitrates):
        frames = panning_frames(picture, per_segment, number * per_segment)
        for index, coded in enumerate(encode_decode(frames, EncoderSetup("vp8", bitrate, "-6"))):
            if coded.keyframe or index % 2 == 0 or tracker.latest is None:
                tracker.update(coded.image, coded.size, coded.keyframe, coded.quantizer if with_quantizer else None)
            estimates.append(tracker.latest.value)
    return estimates


def selector_figures(estimates: list[float], timed: bool) -> dict[str, float]:
    """Switches per minute, shortest showing (s) and mean |level target - estimate| for one selector."""
    selector = LevelSelector()
    levels = [selector.update(value, index / FPS if timed else None) for index, value in enumerate(estimates)]
    changes = [index for index in range(1, len(levels)) if levels[index] != levels[index - 1]]
    shown = np.diff(changes) / FPS if len(changes) > 1 else np.array([len(levels) / FPS])
    gap = np.mean([abs(level_target(level) - value) for level, value in zip(levels, estimates)])
    return {"switches_per_minute": len(changes) / (len(levels) / FPS / 60.0),
            "shortest_showing_s": float(shown.min()), "mean_gap": float(gap)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bitrates", default="150k,300k,600k,1.2M",
                        help="comma-separated segment bitrates, in order (default: an uplink's ramp)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each segment")
    parser.add_argument("--resolution", default="640x480")
    parser.add_argument("--without-quantizer", action="store_true",
                        help="score the frames without their quantizers (the estimate alone)")
    args = parser.parse_args()
    width, height = (int(part) for part in args.resolution.lower().split("x"))
    bitrates = [parse_rate(part) for part in args.bitrates.split(",")]
    picture = cv2.resize(load_still("astronaut"), (width, height), interpolation=cv2.INTER_AREA)
    estimates = tracked_estimates(picture, bitrates, args.seconds, not args.without_quantizer)
    print(f"{len(estimates)} frames at {width}x{height}, VP8 segments at {args.bitrates} bps, "
          f"{'without' if args.without_quantizer else 'with'} their quantizers, "
          f"estimates {min(estimates):.4f}-{max(estimates):.4f}")
    print(f"{'selector':32s} {'switches/min':>13s} {'shortest level (s)':>19s} {'mean gap':>9s}")
    for name, timed in (("in the stream's time (server)", True), ("band and margin alone", False)):
        figures = selector_figures(estimates, timed)
        print(f"{name:32s} {figures['switches_per_minute']:13.1f} {figures['shortest_showing_s']:19.2f} "
              f"{figures['mean_gap']:9.4f}")


if __name__ == "__main__":
    main()
