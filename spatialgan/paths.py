"""Where bundled files live."""

from __future__ import annotations

import os
from pathlib import Path

from .checkpoint import SUFFIX, read_info
from .errors import CheckpointError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL_NAME = "rooms64"  # the editor opens the multi-object rooms model that steers most and renders fastest


def cache_dir() -> Path:
    """Where the tools keep what they make for later (imported pickles, inverted photos' weights, autosaves):
    `$SPATIALGAN_CACHE`, else `$XDG_CACHE_HOME/spatialgan`, else ~/.cache/spatialgan."""
    if os.environ.get("SPATIALGAN_CACHE"):
        return Path(os.environ["SPATIALGAN_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spatialgan"


def checkpoint_dir() -> Path:
    """`$SPATIALGAN_CHECKPOINTS`, else the repository's checkpoints/ folder."""
    return Path(os.environ.get("SPATIALGAN_CHECKPOINTS", REPO_ROOT / "checkpoints"))


def list_checkpoints() -> list[Path]:
    """The generator checkpoints in `checkpoint_dir()`; other safetensors files there (the co-move measure's
    segmenter) are not models the editor can open, so they are left out. Reads headers only."""
    d = checkpoint_dir()
    found = []
    for path in sorted(d.glob(f"*{SUFFIX}")) if d.is_dir() else []:
        try:
            read_info(path)
        except CheckpointError:
            continue
        found.append(path)
    return found


def default_checkpoint() -> Path | None:
    """The bundled default model, else the first bundled one, else None (nothing trained is bundled yet)."""
    found = list_checkpoints()
    for p in found:
        if p.stem == DEFAULT_MODEL_NAME:
            return p
    return found[0] if found else None
