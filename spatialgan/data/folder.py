"""The user's own images from a folder (searched recursively) or a .zip, as exported from LSUN, FFHQ or AFHQ."""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ..errors import SpatialGANError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class ImageFolderDataset(Dataset):
    """Images centre-cropped to a square and resized (LANCZOS) to `resolution`; `[i]` -> (3, R, R) in [-1, 1].

    Construction reads only each file's header. Unreadable images and images whose short side is below
    resolution/2 are skipped with one warning; `skipped` counts them by reason.
    """

    def __init__(self, path: str | Path, resolution: int) -> None:
        self.path = Path(path)
        self.resolution = resolution
        self.is_zip = self.path.suffix.lower() == ".zip"
        # opened lazily, once per process: a handle inherited through fork shares its file offset with
        # the parent's, so concurrent reads would interleave and corrupt each other
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid = 0
        if not self.path.exists():
            raise SpatialGANError(f"dataset path {self.path} does not exist")
        if not self.is_zip and not self.path.is_dir():
            raise SpatialGANError(f"dataset path {self.path} is neither a folder nor a .zip")
        names = self._list()
        if not names:
            raise SpatialGANError(f"no images found in {self.path} (looked for {', '.join(IMAGE_SUFFIXES)})")
        self.files: list[str] = []
        self.skipped: Counter[str] = Counter()
        min_side = resolution / 2
        for name in names:
            try:
                short = min(self._header_size(name))
            except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, zipfile.BadZipFile):
                self.skipped["unreadable"] += 1
                continue
            if short < min_side:
                self.skipped["too small"] += 1
                continue
            self.files.append(name)
        if self._zip is not None:  # drop the handle used for scanning; workers open their own
            self._zip.close()
            self._zip = None
        if self.skipped:
            why = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
            if not self.files:
                raise SpatialGANError(f"none of the {len(names)} images in {self.path} is usable ({why}; "
                                      f"images need a short side of at least {min_side:g} px)")
            warnings.warn(f"{self.path}: skipped {sum(self.skipped.values())} of {len(names)} images ({why}; "
                          f"a short side under {min_side:g} px counts as too small)", stacklevel=2)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        try:
            with Image.open(self._open(self.files[index])) as im:
                arr = np.asarray(square(im.convert("RGB"), self.resolution))
        except (UnidentifiedImageError, OSError) as exc:
            raise SpatialGANError(f"cannot read {self.files[index]} in {self.path}: {exc}") from None
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_zip": None}

    def _list(self) -> list[str]:
        if self.is_zip:
            try:
                with zipfile.ZipFile(self.path) as zf:
                    names = zf.namelist()
            except zipfile.BadZipFile:
                raise SpatialGANError(f"{self.path} is not a readable zip file") from None
        else:
            names = [p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()]
        # Our own exports (marked by annotations.jsonl) keep label masks under masks/: not training images.
        own_export = ANNOTATIONS in names
        return sorted(n for n in names if n.lower().endswith(IMAGE_SUFFIXES) and not n.startswith("__MACOSX/")
                      and not (own_export and n.startswith(MASK_DIR + "/")))

    def _zipfile(self) -> zipfile.ZipFile:
        if self._zip is None or self._zip_pid != os.getpid():
            self._zip, self._zip_pid = zipfile.ZipFile(self.path), os.getpid()
        return self._zip

    def _header_size(self, name: str) -> tuple[int, int]:
        """(width, height) from the header alone: PIL decodes pixels only on load()."""
        if self.is_zip:
            with self._zipfile().open(name) as f, Image.open(f) as im:
                return im.size
        with Image.open(self.path / name) as im:
            return im.size

    def _open(self, name: str) -> io.BytesIO | Path:
        return io.BytesIO(self._zipfile().read(name)) if self.is_zip else self.path / name


ANNOTATIONS = "annotations.jsonl"
MASK_DIR = "masks"


def square(im: Image.Image, size: int) -> Image.Image:
    """Centre crop to a square, then resize to size x size."""
    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return im.resize((size, size), Image.LANCZOS, box=(left, top, left + s, top + s))
