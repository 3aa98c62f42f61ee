"""How closely match_background lands on its target, scored with scikit-image's own SSIM.

    python scripts/evaluate_matching.py [--size 640x480]

Backgrounds: every scikit-image sample image plus the built-in studio backdrop; targets 0.01-0.30;
methods jpeg, webp, vp8, h264, blur, downscale. Prints the median and 95th percentile absolute error
(reachable targets only), the share within 0.005, monotonicity violations, and the median search time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from skimage.metrics import structural_similarity  # noqa: E402

from server.imaging.compositing import fit_background  # noqa: E402
from server.imaging.default_background import studio_background  # noqa: E402
from server.imaging.degradation import BackgroundProfile, choose_params, degrade  # noqa: E402
from server.imaging.metrics import luma  # noqa: E402
from server.training.footage import STILLS, load_still  # noqa: E402

TARGETS = (0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3)
METHODS = ("jpeg", "webp", "vp8", "h264", "blur", "downscale")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x480")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    backgrounds = {name: fit_background(load_still(name), width, height) for name in STILLS}
    backgrounds["studio"] = fit_background(studio_background(), width, height)
    for method in METHODS:
        errors, within, violations, searches, unreachable = [], 0, 0, [], 0
        for image in backgrounds.values():
            profile = BackgroundProfile(image, method)
            reachable = profile.loss(choose_params(profile, 1.0).params)
            previous = -1.0
            for target in TARGETS:
                started = time.perf_counter()
                params = choose_params(profile, target).params
                searches.append(time.perf_counter() - started)
                loss = 1.0 - structural_similarity(luma(image), luma(degrade(image, params)), data_range=255)
                violations += loss < previous - 1e-9
                previous = loss
                if target > reachable:
                    unreachable += 1
                    continue
                errors.append(abs(loss - target))
                within += abs(loss - target) <= 0.005
        errors_array = np.array(errors)
        print(f"{method:>9}: median error {np.median(errors_array):.4f}  p95 {np.percentile(errors_array, 95):.4f}  "
              f"within 0.005 {within}/{len(errors)}  unreachable {unreachable}  monotonicity violations {violations}  "
              f"search {np.median(searches) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
