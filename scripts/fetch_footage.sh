#!/usr/bin/env bash
# Fetch the real footage of server/training/footage.py's DEBIAN_CLIPS: each Debian package that ships
# one is downloaded and unpacked (not installed: none of their dependencies comes along) under
# $BACKDROP_FOOTAGE_DIR (default ~/.cache/backdrop/footage), where training and
# scripts/probe_real_video.py find the clips. Packages already installed are skipped.
#
#     bash scripts/fetch_footage.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
if [ ! -x "$python" ]; then
    echo "no .venv here: run scripts/setup.sh first (the clip list is read from the server package)" >&2
    exit 1
fi
target=$("$python" -c 'from server.training.footage import footage_dir; print(footage_dir())')
packages=$("$python" -c 'from server.training.footage import DEBIAN_CLIPS, video_path
print(" ".join(sorted({clip.package for name, clip in DEBIAN_CLIPS.items() if video_path(name) is None})))')
if [ -z "$packages" ]; then
    echo "every clip is already on this machine"
    exit 0
fi
mkdir -p "$target/debs"
apt-get update -qq
(cd "$target/debs" && apt-get download $packages)
for deb in "$target"/debs/*.deb; do
    dpkg-deb -x "$deb" "$target"
done
rm -rf "$target/debs"
"$python" -c 'from server.training.footage import DEBIAN_CLIPS, video_path
missing = [name for name in DEBIAN_CLIPS if video_path(name) is None]
print("missing: " + ", ".join(missing) if missing else f"all {len(DEBIAN_CLIPS)} clips are on this machine")
raise SystemExit(1 if missing else 0)'
