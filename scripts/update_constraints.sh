#!/usr/bin/env bash
# Rewrite scripts/constraints.txt with the newest releases pyproject.toml's ranges allow: installs them
# into a scratch virtualenv and records its versions. Run the suite on them (bash scripts/test.sh, which
# installs the new constraints into .venv) before committing the file.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$python" -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install -q --upgrade pip
"$scratch/venv/bin/python" -m pip install -q -e ".[test,train]"
{
  sed -n '/^#/p' scripts/constraints.txt
  "$scratch/venv/bin/python" -m pip freeze --exclude-editable
} > "$scratch/constraints.txt"
mv "$scratch/constraints.txt" scripts/constraints.txt
echo "scripts/constraints.txt now pins $(grep -c '==' scripts/constraints.txt) packages; run bash scripts/test.sh"
