"""Choosing the compute device once, in one place."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import torch

from .errors import SpatialGANError, clean_text


def pick_device(preference: str | None = None) -> torch.device:
    """'auto' (or None) picks CUDA, then Apple MPS, then CPU; a named device must be available."""
    pref = (preference or "auto").lower()
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    hint = "use auto, cpu, cuda, cuda:N or mps"
    try:
        dev = torch.device(pref)
    except (RuntimeError, ValueError, TypeError):
        raise SpatialGANError(f"unknown device {clean_text(str(preference), 40)!r}; {hint}") from None
    if dev.type not in ("cpu", "cuda", "mps"):  # torch names more (meta, xla, ...), but nothing renders there
        raise SpatialGANError(f"device {clean_text(str(preference), 40)!r} cannot draw pictures; {hint}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SpatialGANError("device 'cuda' was asked for but no CUDA GPU is available")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise SpatialGANError(f"device {pref!r}: there are {torch.cuda.device_count()} CUDA GPUs (cuda:0 ...)")
    if dev.type == "mps" and not has_mps:
        raise SpatialGANError("device 'mps' was asked for but Apple MPS is not available")
    return dev


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX). Elsewhere oneDNN emulates it, and
    bfloat16 autocast can be slower than float32. Read from /proc/cpuinfo; False where that is missing."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP = 2**31 - 1  # the largest value mallopt takes (a C int): blocks up to 2 GiB come from the heap


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory in the process instead of returning it to the OS after every tensor.

    A CPU training step allocates and frees activations of tens of MB. By default glibc serves blocks above
    32 MB with a fresh mmap and unmaps them on free, so every step refaults them page by page: at 64 px and
    batch 32, over a third of the step's CPU time went to the kernel (bench/cpu_speed.py measures it).
    Raising the mmap and trim thresholds makes freed blocks reusable; the price is that the process keeps its
    peak memory.
    Returns whether the setting took (False off glibc, or with SPATIALGAN_MALLOC=default in the environment).
    """
    if os.environ.get("SPATIALGAN_MALLOC", "").lower() == "default":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP))
