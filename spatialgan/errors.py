"""The project's own exceptions: every user-facing failure is one of these, with a message naming the cause."""

from __future__ import annotations

import re


class SpatialGANError(Exception):
    """Base class for errors a user can act on (bad input, bad file)."""


class ConfigError(SpatialGANError, ValueError):
    """A model or training configuration is invalid; the message names the field."""


class HeatmapSpecError(SpatialGANError, ValueError):
    """A heatmap specification is invalid for itself or for the model; the message names the field."""


class CheckpointError(SpatialGANError):
    """A checkpoint file is missing, truncated, corrupt, of a foreign format, or does not match its config."""


_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str, limit: int = 400) -> str:
    """Text from a file or a user, fit for a message: terminal escape sequences and control characters removed
    (a file name must not recolour or clear the user's terminal), cut to `limit` characters."""
    text = _CONTROL.sub("", str(text)).replace("\n", " ").replace("\t", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
