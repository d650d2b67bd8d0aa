"""The project's own exceptions: every user-facing failure is one of these, with a message naming the cause."""

from __future__ import annotations


class SpatialGANError(Exception):
    """Base class for errors a user can act on (bad input, bad file)."""


class ConfigError(SpatialGANError, ValueError):
    """A model or training configuration is invalid; the message names the field."""


class HeatmapSpecError(SpatialGANError, ValueError):
    """A heatmap specification is invalid for itself or for the model; the message names the field."""


class CheckpointError(SpatialGANError):
    """A checkpoint file is missing, truncated, corrupt, of a foreign format, or does not match its config."""
