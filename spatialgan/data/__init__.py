"""Training data: procedural rooms and pets (with object annotations), or the user's own images."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from .canvas import ProceduralSample
from .folder import ImageFolderDataset
from .procedural import PET_CLASSES, ROOM_CLASSES, PetsDataset, RoomsDataset

PROCEDURAL = {"rooms": RoomsDataset, "pets": PetsDataset}


def make_dataset(name_or_path: str | Path, resolution: int, seed: int = 0) -> Dataset:
    """"rooms" or "pets" -> a procedural dataset; anything else -> ImageFolderDataset(path)."""
    if str(name_or_path) in PROCEDURAL:
        return PROCEDURAL[str(name_or_path)](resolution=resolution, seed=seed)
    return ImageFolderDataset(name_or_path, resolution)


__all__ = ["ImageFolderDataset", "PET_CLASSES", "PROCEDURAL", "PetsDataset", "ProceduralSample", "ROOM_CLASSES",
           "RoomsDataset", "make_dataset"]
