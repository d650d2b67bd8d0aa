"""The project's own exceptions: every user-facing failure is one of these, with a message naming the cause."""

from __future__ import annotations

import re


class SpatialGANError(Exception):
    """Base class for errors a user can act on (bad input, bad file). Its text is what a user reads: whatever a
    file put into it, it carries no terminal escape sequences and stays at most MAX_MESSAGE characters."""

    def __str__(self) -> str:
        return clean_text(super().__str__(), MAX_MESSAGE)


MAX_MESSAGE = 800


class ConfigError(SpatialGANError, ValueError):
    """A model or training configuration is invalid; the message names the field."""


class HeatmapSpecError(SpatialGANError, ValueError):
    """A heatmap specification is invalid for itself or for the model; the message names the field."""


class CheckpointError(SpatialGANError):
    """A checkpoint file is missing, truncated, corrupt, of a foreign format, or does not match its config."""


# escape sequences (CSI, OSC), lone escapes, and control characters other than the newline
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str, limit: int = 400) -> str:
    """Text from a file or a user, fit for a message: terminal escape sequences and control characters (but
    newlines) removed, so a file name cannot recolour or clear the user's terminal, and cut to `limit` characters."""
    text = _CONTROL.sub("", str(text).replace("\t", " "))
    return text if len(text) <= limit else text[: limit - 3] + "..."
