"""Median milliseconds per frame of each imaging stage at 320x240, 640x480 and 1280x720, on one core.

    python scripts/bench_imaging.py [--frames 60]

Stages: segment (MediaPipe + mask refinement), estimate (features + model), match (a cached
variant lookup with hysteresis, as per frame in the server; the one-off profile and search cost is
printed separately), composite, and the whole frame.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# One core: numeric libraries single-threaded, set before numpy loads (as in the server's workers).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from server.imaging.background_variants import LevelSelector, VariantCache, level_for  # noqa: E402
from server.imaging.compositing import composite, fit_background  # noqa: E402
from server.imaging.default_background import studio_background  # noqa: E402
from server.imaging.degradation import BackgroundProfile, choose_params  # noqa: E402
from server.imaging.quality import estimate_quality  # noqa: E402
from server.imaging.segmentation import PersonSegmenter  # noqa: E402
from server.training.encoding import EncoderSetup, encode_decode  # noqa: E402
from server.training.footage import Motion, load_still, render_still_clip  # noqa: E402

SIZES = ((320, 240), (640, 480), (1280, 720))


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, (time.perf_counter() - started) * 1000.0


def bench(width: int, height: int, frames: int) -> dict[str, float]:
    motion = Motion(crop=0.9, pan_x=0.002, pan_y=0.0, zoom=0.001, noise=1.0, flip=False, gain=1.0, bias=0.0)
    clip = render_still_clip(load_still("astronaut"), width, height, frames, motion, np.random.default_rng(0))
    coded = encode_decode(clip, EncoderSetup("vp8", 600_000, "-6"))
    background = fit_background(studio_background(), width, height)
    cache, levels = VariantCache(), LevelSelector()
    _, profile_ms = timed(BackgroundProfile, background, "vp8")
    profile = BackgroundProfile(background, "vp8")
    _, search_ms = timed(choose_params, profile, 0.05)
    times: dict[str, list[float]] = {"segment": [], "estimate": [], "match": [], "composite": [], "total": []}
    with PersonSegmenter() as segmenter:
        for index, frame in enumerate(coded):
            mask, t_seg = timed(segmenter.segment, frame.image, index * 33)
            quality, t_est = timed(estimate_quality, frame.image, frame.size, frame.keyframe, "vp8")
            level = levels.update(quality.value)
            if index == 0:  # the first lookup builds the variant: counted in the one-off cost, not per frame
                cache.variant("bench", background, "vp8", level)
            variant, t_match = timed(cache.variant, "bench", background, "vp8", level)
            _, t_comp = timed(composite, frame.image, variant.image, mask)
            for name, value in zip(times, (t_seg, t_est, t_match, t_comp, t_seg + t_est + t_match + t_comp)):
                times[name].append(value)
    result = {name: statistics.median(values[5:]) for name, values in times.items()}
    result["profile_once"] = profile_ms
    result["search_once"] = search_ms
    result["level"] = level_for(quality.value)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (1 = one core)")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    print(f"{'size':>10} {'segment':>8} {'estimate':>9} {'match':>7} {'composite':>10} {'total':>7}"
          f"   one-off: profile / search (ms)")
    for width, height in SIZES:
        r = bench(width, height, args.frames)
        print(f"{width}x{height:<5} {r['segment']:8.2f} {r['estimate']:9.2f} {r['match']:7.3f} {r['composite']:10.2f}"
              f" {r['total']:7.2f}   {r['profile_once']:.0f} / {r['search_once']:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
