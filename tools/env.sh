#!/usr/bin/env bash
# Sourced by the README's two commands: creates (or reuses) the project's virtual environment in .venv and
# installs the package into it with the pinned CPU torch. Debian's own python3 refuses `pip install` outside
# a virtual environment (PEP 668), so every install goes through this venv.
# Usage: source tools/env.sh EXTRAS   (EXTRAS as in pyproject, e.g. "gui" or "dev,gui,train")
set -euo pipefail
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_extras="${1:-gui}"
_venv="${SPATIALGAN_VENV:-$_root/.venv}"
_sudo=""; [ "$(id -u)" -eq 0 ] || _sudo="sudo"

if [ ! -x "$_venv/bin/python" ]; then
    if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
        echo "installing python3-venv (Debian ships venv without ensurepip)"
        $_sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $_sudo apt-get install -y -qq python3-venv >/dev/null
    fi
    echo "creating the virtual environment $_venv"
    python3 -m venv "$_venv"
fi
PY="$_venv/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# A stamp of what was installed lets a second launch skip pip entirely (it takes seconds even when satisfied).
_stamp="$_venv/.spatialgan-$(cat "$_root/pyproject.toml" "$_root/constraints.txt" | sha256sum | cut -c1-16)-${_extras//,/_}"
if [ ! -e "$_stamp" ]; then
    echo "installing spatialgan[$_extras] into $_venv (the first time takes a few minutes)"
    "$PY" -m pip install -q -c "$_root/constraints.txt" -e "$_root[$_extras]"
    touch "$_stamp"
fi
export PY
