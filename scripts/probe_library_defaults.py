"""Score the quality estimator the way an outside tester most simply would: held-out stills repeated
frame after frame, encoded by PyAV with only the bitrate set (the libraries' defaults), every frame
scored against its original.

    python scripts/probe_library_defaults.py [--quality-model PATH] [--frames 8] [--seed 5000] [--workers 2]
                                             [--encoder-input opencv|pyav]

Each held-out still (never trained on) at 320x240, 640x480 and 1280x720, VP8 and H.264, 80 kbps to
5 Mbps: a frozen picture's inter frames are skips and refinements of the keyframe, whose quality
their size says little about, which makes this the hardest case for a per-frame estimate. Prints the
pooled Spearman correlation (with its range when the clips are drawn again), the server's tracker,
and the figures per codec, per resolution and for keyframes against inter frames. With
``--encoder-input pyav`` the stills reach the encoder as bgr24 and PyAV's swscale converts them, as a
tester's own PyAV code would (training converts with OpenCV): 0.703, keyframes 0.940, inter frames
0.670, tracker 0.940, against 0.708 / 0.959 / 0.674 / 0.959.

The model shipped with format /7: 0.708, keyframes 0.959, inter frames 0.674, tracker 0.959. A frozen
picture's inter frames keep their keyframe's loss while their size says nothing of it, and libvpx's
defaults spend the first keyframe's bits whatever the bitrate: where the per-frame figure is lost,
and what was tried for it, is in ``server/training/QUALITY_RECORD.md``, section 2.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from probe_real_video import add_encoder_input_option, add_quantizer_calibration_option  # noqa: E402

from server.imaging.quality_model import DEFAULT_MODEL_PATH  # noqa: E402
from server.training.commands import split_sources  # noqa: E402
from server.training.parallel import in_parallel  # noqa: E402
from server.training.encoding import EncoderSetup  # noqa: E402
from server.training.footage import is_still  # noqa: E402
from server.training.quality_evaluation import (  # noqa: E402
    PROTOCOL_BITRATES as BITRATES, PROTOCOL_SIZES as SIZES, QualityScorer, present_calibration, summarise)
from server.training.quality_samples import ClipSpec  # noqa: E402


def probe_specs(frames: int, seed: int, input_conversion: str = "opencv") -> list[ClipSpec]:
    """One frozen clip per held-out still, size, codec and bitrate, at the libraries' defaults, its
    frames converted to I420 as ``input_conversion`` says (``EncoderSetup.input_conversion``)."""
    stills = [source for source in split_sources()[1] if is_still(source)]
    combinations = itertools.product(stills, SIZES, ("vp8", "h264"), BITRATES)
    return [ClipSpec(source, width, height, EncoderSetup(codec, bitrate, "", cbr=False, denoise=False, realtime=False,
                                                         input_conversion=input_conversion),
                     frames, seed + number, frozen=True)
            for number, (source, (width, height), codec, bitrate) in enumerate(combinations)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quality-model", type=Path, default=DEFAULT_MODEL_PATH)
    add_quantizer_calibration_option(parser)
    parser.add_argument("--frames", type=int, default=8, help="frames per clip, every one scored")
    parser.add_argument("--seed", type=int, default=5000, help="draws each clip's crop of its still")
    parser.add_argument("--workers", type=int, default=2)
    add_encoder_input_option(parser)
    args = parser.parse_args()
    rows = in_parallel(QualityScorer(str(args.quality_model), present_calibration(args.quantizer_calibration)),
                       probe_specs(args.frames, args.seed, args.encoder_input), args.workers, "probe")
    summary = summarise(rows)
    print(f"{summary['frames']} frames: spearman {summary['spearman']:.3f} "
          "(clips drawn again: 95% between {:.3f} and {:.3f}), ".format(*summary["spearman_interval"])
          + f"tracker {summary['tracker']['spearman']:.3f}, bits per pixel alone {summary['bpp_spearman']:.3f} "
          f"(the stream's nominal bits per pixel: {summary['nominal_bpp_spearman']:.3f})")
    for group in ("by_codec", "by_resolution"):
        print("  " + ", ".join(f"{name} {value['spearman']:.3f}" for name, value in summary[group].items()))
    keyframe = np.array([row["keyframe"] for row in rows])
    estimate = np.array([row["estimate"] for row in rows])
    truth = np.array([row["truth"] for row in rows])
    for name, mask in (("keyframes", keyframe), ("inter frames", ~keyframe)):
        figure = spearmanr(estimate[mask], truth[mask]).statistic
        print(f"  {name}: {int(mask.sum())} frames, spearman {figure:.3f}")
    if "calibrated" in summary:
        calibrated = np.array([row["calibrated"] for row in rows])
        print(f"  corrected by each frame's quantizer (as the server reads it from the bitstream): spearman "
              f"{summary['calibrated']['spearman']:.3f}; keyframes "
              f"{spearmanr(calibrated[keyframe], truth[keyframe]).statistic:.3f}, inter frames "
              f"{spearmanr(calibrated[~keyframe], truth[~keyframe]).statistic:.3f}; the tracker fed the quantizers "
              f"{summary['calibrated_tracker']['spearman']:.3f}")


if __name__ == "__main__":
    main()
