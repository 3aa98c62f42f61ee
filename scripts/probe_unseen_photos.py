"""Score the quality estimator on photographs it never saw, each encoded alone as one frame (a
keyframe): the case of a picture sent once, or of a stream's first frame.

    bash scripts/fetch_footage.sh   # once: the Debian packages holding the photographs
    python scripts/probe_unseen_photos.py [--quality-model PATH] [--workers 2] [--encoder-input opencv|pyav]

Fourteen photographs from Debian packages that training never reads (forensics-samples-files'
phone pictures, node-opencv's and opencv-doc's example pictures: cars, a portrait, a butterfly, a
plant, a house, a street sign, text in a scene), cropped to each test size's aspect ratio and
resized to 320x240, 640x480 and 1280x720, encoded by PyAV with VP8 and H.264 at 80 kbps-5 Mbps by
the libraries' defaults and by an aiortc-like real-time sender (``probe_real_video.sender``), the
one decoded frame scored against its resized original. Prints the pooled Spearman correlation (with
its range when the photographs are drawn again), bits per pixel alone, and the figures per size,
codec and sender. Bits per pixel ranks a keyframe far better than an inter frame (0.86 here,
against 0.42 over all frames of real footage), so this is the easiest of the probes. With
``--encoder-input pyav`` (the photographs handed to the encoder as bgr24 and converted by PyAV's
swscale, not OpenCV) they rank at 0.975 as well (photographs drawn again: 0.963-0.982).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from probe_real_video import add_encoder_input_option, fit_to, sender  # noqa: E402
from server.imaging.quality import load_model  # noqa: E402
from server.imaging.quality_model import DEFAULT_MODEL_PATH  # noqa: E402
from server.training.footage import debian_file  # noqa: E402
from server.training.parallel import in_parallel  # noqa: E402
from server.training.quality_evaluation import (  # noqa: E402
    PROTOCOL_BITRATES as BITRATES, PROTOCOL_SIZES as SIZES, clip_bootstrap_interval, score_clip)

PHOTOS: tuple[str, ...] = (
    "forensics-samples/original-files/pic1/IMG_1054.JPG",
    "forensics-samples/original-files/pic2/IMG_20191224_234846.jpg",
    "forensics-samples/original-files/pic2/IMG_20200124_231153.jpg",
    "forensics-samples/original-files/pic2/IMG_20200608_111614.jpg",
    "forensics-samples/original-files/pic1/IMG_20200827_231612.jpg",
    "forensics-samples/original-files/pic1/IMG-20191006-WA0002.jpg",
    "doc/node-opencv/examples/files/car1.jpg",
    "doc/node-opencv/examples/files/car2.jpg",
    "doc/node-opencv/examples/files/mona.png",
    "doc/opencv-doc/examples/dnn_superres/butterfly.png",
    "doc/opencv-doc/examples/alphamat/input_images/plant.jpg",
    "doc/opencv-doc/examples/reg/home.png",
    "doc/opencv-doc/examples/fuzzy/input.png",
    "doc/opencv-doc/examples/text/scenetext01.jpg",
)
"""Paths under /usr/share of the packages in ``footage.DEBIAN_CLIPS``' list (installed, or unpacked
under ``footage.footage_dir()`` by ``scripts/fetch_footage.sh``)."""


def photo_path(name: str) -> str | None:
    """Where the photograph ``name`` (one of ``PHOTOS``) is on this machine, or None."""
    return debian_file(f"/usr/share/{name}")


class PhotoScorer:
    """Picklable: score one (photograph, size, codec, bitrate, sender) encode with the model at ``model_path``."""

    def __init__(self, model_path: str, input_conversion: str = "opencv") -> None:
        self.model_path, self.input_conversion = model_path, input_conversion

    def __call__(self, job: tuple[str, tuple[int, int], str, int, str]) -> list[dict]:
        name, (width, height), codec, bitrate, kind = job
        cv2.setNumThreads(1)
        path = photo_path(name)
        image = cv2.imread(path, cv2.IMREAD_COLOR) if path else None
        if image is None:
            raise ValueError(f"cannot read the photograph {name}")
        labels = {"clip": repr(job), "photo": name, "size": f"{width}x{height}", "camera": "still"}
        return score_clip([fit_to(image, width, height)], sender(kind, codec, bitrate, self.input_conversion),
                          load_model(self.model_path), labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quality-model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--workers", type=int, default=2)
    add_encoder_input_option(parser)
    args = parser.parse_args()
    missing = [name for name in PHOTOS if photo_path(name) is None]
    if missing:
        parser.error(f"{len(missing)} photographs are not on this machine (run scripts/fetch_footage.sh): "
                     + ", ".join(missing))
    jobs = list(itertools.product(PHOTOS, SIZES, ("vp8", "h264"), BITRATES, ("file", "realtime")))
    rows = in_parallel(PhotoScorer(str(args.quality_model), args.encoder_input), jobs, args.workers, "probe")
    estimate = np.array([row["estimate"] for row in rows])
    truth = np.array([row["truth"] for row in rows])
    low, high = clip_bootstrap_interval(estimate, truth, [row["photo"] for row in rows])
    bpp = spearmanr(-np.array([row["bpp"] for row in rows]), truth).statistic
    print(f"{len(rows)} frames ({int(sum(row['keyframe'] for row in rows))} keyframes): spearman "
          f"{spearmanr(estimate, truth).statistic:.3f} (photographs drawn again: 95% between {low:.3f} and "
          f"{high:.3f}), bits per pixel alone {bpp:.3f}")
    for key in ("size", "codec", "sender"):
        values = sorted({row[key] for row in rows})
        print("  " + ", ".join(
            f"{value} {spearmanr(estimate[mask], truth[mask]).statistic:.3f}"
            for value in values for mask in [np.array([row[key] == value for row in rows])]))


if __name__ == "__main__":
    main()
