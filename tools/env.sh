#!/usr/bin/env bash
# Sourced by the README's two commands: creates (or reuses) the project's virtual environment in .venv and
# installs the package into it with the pinned CPU torch. Debian's own python3 refuses `pip install` outside
# a virtual environment (PEP 668), so every install goes through this venv.
# Usage: source tools/env.sh EXTRAS from a script (it sets $PY), or `bash tools/env.sh EXTRAS` to set up only;
# EXTRAS as in pyproject, e.g. "gui" or "dev,gui,train".
set -euo pipefail
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_extras="${1:-gui}"
_venv="${SPATIALGAN_VENV:-$_root/.venv}"
_sudo=""; [ "$(id -u)" -eq 0 ] || _sudo="sudo"

if [ ! -x "$_venv/bin/python" ]; then
    echo "creating the virtual environment $_venv"
    if ! python3 -m venv "$_venv" >/dev/null 2>&1; then
        # Debian and Ubuntu ship venv's pip bootstrap in a package of its own
        rm -rf "$_venv"
        echo "installing python3-venv"
        $_sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $_sudo apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$_venv"
    fi
fi
PY="$_venv/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# A stamp of what was installed (for this pyproject and these pins) lets later launches skip pip, which takes
# seconds even when everything is there.
_stamp="$_venv/.spatialgan-$(cat "$_root/pyproject.toml" "$_root/constraints.txt" | sha256sum | cut -c1-16)"
_missing=""
for _e in ${_extras//,/ }; do grep -qx "$_e" "$_stamp" 2>/dev/null || _missing=1; done
if [ -n "$_missing" ]; then
    echo "installing spatialgan[$_extras] into $_venv (the first time takes a few minutes)"
    "$PY" -m pip install -q -c "$_root/constraints.txt" -e "$_root[$_extras]"
    tr ',' '\n' <<< "$_extras" >> "$_stamp"
fi
export PY
