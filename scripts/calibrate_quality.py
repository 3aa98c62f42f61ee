"""Build the quality estimator's training data offline and fit its model: the same as
``backdrop train quality`` (kept for the scripts/ layout).

    python scripts/calibrate_quality.py [--clips 700] [--held-out-clips 120] [--seed 7] [--workers 2] [--out PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["train", "quality", *sys.argv[1:]]))
