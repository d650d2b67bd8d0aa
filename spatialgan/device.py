"""Choosing the compute device once, in one place."""

from __future__ import annotations

import torch

from .errors import SpatialGANError


def pick_device(preference: str | None = None) -> torch.device:
    """'auto' (or None) picks CUDA, then Apple MPS, then CPU; a named device must be available."""
    pref = (preference or "auto").lower()
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    try:
        dev = torch.device(pref)
    except RuntimeError:
        raise SpatialGANError(f"unknown device {preference!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SpatialGANError("device 'cuda' was asked for but no CUDA GPU is available")
    if dev.type == "mps" and not has_mps:
        raise SpatialGANError("device 'mps' was asked for but Apple MPS is not available")
    return dev


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
