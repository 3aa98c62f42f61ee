"""How fast the quality estimator says loss falls as the bitrate rises, against how fast it does, on
held-out stills with a moving camera at several levels of camera noise.

    python scripts/probe_bitrate_slopes.py [--quality-model PATH] [--frames 10] [--noise 0 1 2]

Each held-out still is filmed by one drawn camera (``footage.Motion.random``, its noise replaced by
each ``--noise`` level), sized 320x240 and 640x480, sent by the real-time VP8 and H.264 senders at
80 kbps-5 Mbps. For every series of clips that differ only in bitrate, the slope of the clips' mean
log true loss and of their mean log estimate against log bitrate, and the medians of both per noise
level (``quality_evaluation.bitrate_slopes``; ``probe_real_video.py`` prints the same for real
footage). An estimate flatter than the truth underestimates low bitrates against high ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from server.imaging.quality import load_model  # noqa: E402
from server.imaging.quality_model import DEFAULT_MODEL_PATH  # noqa: E402
from server.training.commands import split_sources  # noqa: E402
from server.training.encoding import EncoderSetup  # noqa: E402
from server.training.footage import Motion, is_still, load_still, render_still_clip  # noqa: E402
from server.training.quality_evaluation import (  # noqa: E402
    PROTOCOL_BITRATES as BITRATES, bitrate_slopes, score_clip)

SIZES = ((320, 240), (640, 480))
REALTIME_SPEEDS = {"vp8": "-6", "h264": "medium"}


def score_series(still: str, width: int, height: int, codec: str, noise: float, frames: int,
                 model_path: Path) -> list[dict]:
    """One still's clip at every bitrate: ``score_clip``'s rows, labelled with the still and noise."""
    motion = dataclasses.replace(Motion.random(np.random.default_rng(5)), noise=noise)
    pictures = render_still_clip(load_still(still), width, height, frames, motion, np.random.default_rng(6))
    model, rows = load_model(str(model_path)), []
    for bitrate in BITRATES:
        labels = {"clip": f"{still} {width}x{height} {codec} {noise} {bitrate}", "video": still,
                  "size": f"{width}x{height}", "camera": "moving", "noise": noise}
        rows += score_clip(pictures, EncoderSetup(codec, bitrate, REALTIME_SPEEDS[codec]), model, labels)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quality-model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--frames", type=int, default=10, help="frames per clip, every one scored")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 1.0, 2.0],
                        help="camera noise levels (standard deviation in grey levels)")
    args = parser.parse_args()
    stills = [name for name in split_sources()[1] if is_still(name)]
    for noise in args.noise:
        rows = []
        for still, (width, height), codec in itertools.product(stills, SIZES, REALTIME_SPEEDS):
            rows += score_series(still, width, height, codec, noise, args.frames, args.quality_model)
        truth, estimate = bitrate_slopes(rows)
        print(f"noise {noise:g}: {len(rows)} frames of {', '.join(stills)}; truth bitrate^{truth:.2f}, "
              f"estimate bitrate^{estimate:.2f}")


if __name__ == "__main__":
    main()
