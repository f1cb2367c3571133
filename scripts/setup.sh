#!/usr/bin/env bash
# Installs LAKD Studio into .venv. `--dev` adds the test tools and Chromium for the browser test.
# System packages are optional: without them the app runs on the bundled sample data.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1

if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
  pkgs="dataset-fashion-mnist"
  [ "$dev" = 1 ] && pkgs="$pkgs chromium chromium-driver fonts-noto-cjk"
  if ! $SUDO apt-get install -y -q $pkgs >/dev/null 2>&1; then
    $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q $pkgs >/dev/null 2>&1 \
      || echo "note: apt-get could not install: $pkgs (the app still runs on the bundled sample data)"
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "$dev" = 1 ]; then
  .venv/bin/python -m pip install -q -r requirements-dev.txt
else
  .venv/bin/python -m pip install -q -r requirements.txt
fi
echo "LAKD Studio installed in .venv"
