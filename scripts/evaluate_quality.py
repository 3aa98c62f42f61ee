"""Score the quality estimator on fresh clips from held-out sources, every frame labelled.

    python scripts/evaluate_quality.py [--clips 60] [--seed 99] [--sources astronaut,coffee,...]

Prints Spearman and Pearson of the estimate against the true 1 - SSIM (pooled, per codec, per
resolution), for single-frame ``estimate_quality`` and for the per-stream ``QualityTracker``, the
block-level median per-frame Spearman, and the estimator's median time at 640x480.
"""

from __future__ import annotations

import argparse
import os
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# One core: numeric libraries single-threaded, set before numpy loads (as in the server's workers).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import pearsonr, spearmanr  # noqa: E402

from server.imaging.features import BLOCK, frame_luma_u8  # noqa: E402
from server.imaging.metrics import block_loss_map, ssim_loss  # noqa: E402
from server.imaging.quality import QualityTracker, estimate_quality  # noqa: E402
from server.training.encoding import encode_decode  # noqa: E402
from server.training.footage import load_still  # noqa: E402
from server.training.quality_samples import ClipSpec, make_specs, render_clip  # noqa: E402

DEFAULT_SOURCES = "astronaut,coffee,rocket,grass,bikes.mp4"


def score_clip(spec: ClipSpec) -> list[dict]:
    frames = render_clip(spec)
    coded = encode_decode(frames, spec.setup)
    tracker = QualityTracker(spec.setup.codec)
    rows = []
    for index, (original, received) in enumerate(zip(frames, coded)):
        if received.size == 0:
            continue
        single = estimate_quality(received.image, received.size, received.keyframe, spec.setup.codec)
        tracked = tracker.update(received.image, received.size, received.keyframe)
        truth_blocks = block_loss_map(frame_luma_u8(original).astype(np.float32),
                                      frame_luma_u8(received.image).astype(np.float32), BLOCK)
        block_rho = spearmanr(single.matrix.reshape(-1), truth_blocks.reshape(-1)).statistic
        rows.append({"codec": spec.setup.codec, "size": f"{spec.width}x{spec.height}", "index": index,
                     "truth": ssim_loss(original, received.image), "single": single.value, "tracked": tracked.value,
                     "bpp": single.bpp, "block_rho": block_rho})
    return rows


def report(rows: list[dict], key: str) -> str:
    truth = np.array([r["truth"] for r in rows])
    value = np.array([r[key] for r in rows])
    parts = [f"pooled spearman {spearmanr(value, truth).statistic:.3f} pearson {pearsonr(value, truth).statistic:.3f}"]
    for group in ("codec", "size"):
        for name in sorted({r[group] for r in rows}):
            mask = np.array([r[group] == name for r in rows])
            parts.append(f"{name} {spearmanr(value[mask], truth[mask]).statistic:.3f}")
    return "  ".join(parts)


def timing() -> float:
    from server.training.encoding import EncoderSetup
    cv2.setNumThreads(1)
    image = cv2.resize(load_still("astronaut"), (640, 480))
    frame = encode_decode([image] * 3, EncoderSetup("vp8", 500_000, "-6"))[-1]
    times = []
    for _ in range(200):
        started = time.perf_counter()
        estimate_quality(frame.image, frame.size, frame.keyframe, "vp8")
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--seed", type=int, default=99)
    parser.add_argument("--sources", default=DEFAULT_SOURCES)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    specs = make_specs(args.sources.split(","), args.clips, args.seed)
    rows: list[dict] = []
    with multiprocessing.Pool(args.workers) as pool:
        for clip_rows in pool.imap_unordered(score_clip, specs):
            rows.extend(clip_rows)
    bpp = np.array([r["bpp"] for r in rows])
    truth = np.array([r["truth"] for r in rows])
    print(f"{len(rows)} frames from {len(specs)} clips of {args.sources}")
    print(f"bits per pixel alone: spearman {spearmanr(-bpp, truth).statistic:.3f}")
    print(f"estimate_quality:     {report(rows, 'single')}")
    print(f"QualityTracker:       {report(rows, 'tracked')}")
    print(f"block level: median per-frame spearman {np.nanmedian([r['block_rho'] for r in rows]):.3f}")
    print(f"estimate_quality at 640x480, one core: {timing():.2f} ms median")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
