#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run Backdrop on its embedded defaults. Until the real-time server
# lands this runs the offline compositor on the built-in sample footage and background.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p data
exec .venv/bin/backdrop composite sample -o data/sample_composite.mp4 --side-by-side \
  --report data/sample_composite.json "$@"
