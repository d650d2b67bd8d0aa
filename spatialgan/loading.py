"""Opening any model the tools accept, by what the file is: our checkpoints, models imported from network pickles
(saved in our format), a network pickle itself (imported once, then cached by its hash), or a rosinality
checkpoint (read with torch's weights-only loader each time: it is fast)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch

from .checkpoint import load_checkpoint, load_generator
from .errors import CheckpointError
from .model import SteerableModel
from .files import FileError, check_regular_file

PICKLE_SUFFIXES = (".pkl", ".pickle")
TORCH_SUFFIXES = (".pt", ".pth")  # rosinality stylegan2-pytorch checkpoints


def load(path: str | os.PathLike, device: torch.device | str = "cpu",
         progress: Callable[[str], None] | None = None) -> SteerableModel:
    """The model in `path`: a `Generator` from our checkpoints, or an imported architecture (e.g. `StyleGAN2ADA`)
    from a network pickle, a rosinality checkpoint (.pt) or our file of one. Never runs code from the file.
    `progress` hears each stage of a pickle's import, which takes a while the first time."""
    from .importers import NetworkPickleError, import_cached, import_rosinality, is_imported, load_imported

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        check_regular_file(path, "model")  # a FIFO would block every reader below
    except FileError as exc:
        raise CheckpointError(str(exc)) from None
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return import_cached(path, progress=progress)[0].to(device)
    if path.suffix.lower() in TORCH_SUFFIXES:
        if progress:
            progress(f"reading the rosinality checkpoint {path.name} (weights only: nothing in it is run)")
        try:
            return import_rosinality(path).to(device)
        except NetworkPickleError as exc:
            raise CheckpointError(str(exc)) from None
    if is_imported(path):
        return load_imported(path, device)[0]
    return load_checkpoint(path, device=device).generator


def load_discriminator(path: str | os.PathLike, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The discriminator of a training snapshot (a network pickle's `D`) or of an imported model saved with it: a
    module whose `forward(img, c=None)` gives upstream's logits (B, 1) and whose `observe` keeps the activations
    GradCAM reads. Our own exported checkpoints hold none (a training run folder does); asking one says so."""
    from .importers import import_discriminator, is_imported, load_imported_discriminator
    from .importers.netpickle import NetworkPickleError

    path = Path(path)
    try:
        check_regular_file(path, "model")
    except FileError as exc:
        raise CheckpointError(str(exc)) from None
    if path.suffix.lower() in PICKLE_SUFFIXES + TORCH_SUFFIXES:
        try:
            return import_discriminator(path).to(device)
        except NetworkPickleError as exc:
            raise CheckpointError(str(exc)) from None
    if is_imported(path):
        return load_imported_discriminator(path).to(device)
    raise CheckpointError(f"{path} holds no discriminator: this project's exported models keep only the generator "
                          "(a training run folder has D; see spatialgan-metrics align)")


def may_hold_discriminator(path: str | os.PathLike) -> bool:
    """A cheap guess, without reading the weights: whether `path` can hold a discriminator (a network pickle or
    rosinality checkpoint may; our file of an imported model says so in its header; our own checkpoints do not)."""
    from .importers import DISCRIMINATOR_KEY, is_imported

    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES + TORCH_SUFFIXES:
        return path.is_file()
    if not is_imported(path):
        return False
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return DISCRIMINATOR_KEY in (f.metadata() or {})


def open_model(checkpoint: str | os.PathLike | None, untrained: str | None = None,
               device: torch.device | str = "cpu",
               progress: Callable[[str], None] | None = None) -> tuple[SteerableModel, str]:
    """The model a user asked for and where it came from (see `load`); `untrained` as in `load_generator`."""
    if untrained or checkpoint is None or Path(checkpoint).suffix.lower() not in PICKLE_SUFFIXES + TORCH_SUFFIXES + (
            ".safetensors",):
        return load_generator(checkpoint, untrained, device)
    model = load(checkpoint, device, progress)
    return model, str(getattr(model, "source", "") or checkpoint)
