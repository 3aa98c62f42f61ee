#!/usr/bin/env bash
# Set up everything Backdrop needs on a bare Debian 12 machine: Debian packages, a virtualenv in
# .venv with the project and its test/training extras. Safe to run again (it skips what is there).
set -euo pipefail
cd "$(dirname "$0")/.."

# libgl1/libglib2.0-0: OpenCV; chromium (driven by pip's playwright) and firefox-esr: browser tests;
# coturn: the TURN tests' relay; redis-server: the cluster tests' Redis.
debian_packages=(libgl1 libglib2.0-0 chromium firefox-esr coturn redis-server)
missing=()
for package in "${debian_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# The packages at the versions the suite last passed with (scripts/constraints.txt); reinstalled when
# pyproject.toml or the constraints change.
stamp=.venv/.backdrop-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c scripts/constraints.txt -e ".[test,train]"
  touch "$stamp"
fi
