#!/usr/bin/env bash
# The README's launch command: sets up the virtual environment in .venv on first use (pinned CPU torch and
# Dear PyGui), then opens the editor. Arguments go to the editor, e.g. `bash tools/editor.sh -c model.safetensors`.
set -euo pipefail
# No cd: paths given to the editor stay relative to where it was started.
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/tools/env.sh" gui
exec "$PY" "$root/run_gui.py" "$@"
