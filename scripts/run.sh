#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the Backdrop server on its embedded defaults:
# http://127.0.0.1:8080/ , data in ./data, no external service. Extra arguments go to `backdrop serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/backdrop serve --host 127.0.0.1 --port 8080 --data-dir ./data "$@"
