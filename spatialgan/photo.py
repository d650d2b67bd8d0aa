"""Photos as people have them, turned into a model's input: any size and aspect ratio (centre crop or pad, the user
chooses), grayscale, alpha, palette, 16-bit and float images, CMYK JPEGs, EXIF orientation. A file that is not a
readable image gets one clear line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import SpatialGANError
from .files import FileError, check_regular_file

Fit = Literal["crop", "pad"]
FITS: tuple[str, ...] = ("crop", "pad")


class PhotoError(SpatialGANError):
    """A photo that cannot be read: missing, not an image, truncated or corrupt."""


def _to_rgb(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """8-bit RGB: high bit depths scaled down, transparency composited over `background`."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        if img.mode == "F":
            top = max(float(a.max()), 1e-8) if a.max() > 1 else 1.0
        img = Image.fromarray(np.clip(a / top * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")  # a palette may carry transparency
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        img = Image.alpha_composite(canvas, rgba)
    return img.convert("RGB")  # also CMYK, YCbCr, L and 1


def load_photo(path: str | os.PathLike, resolution: int, fit: Fit = "crop",
               background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """The photo as (R, R, 3) uint8: upright (EXIF), RGB, made square by a centre crop or by padding with
    `background`, and resized to `resolution`."""
    if fit not in FITS:
        raise PhotoError(f"fit must be one of {FITS}, got {fit!r}")
    path = Path(path)
    if path.exists():  # a FIFO or a device would block or never end: look before opening
        try:
            check_regular_file(path, "photo")
        except FileError as exc:
            raise PhotoError(str(exc)) from None
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            rgb = _to_rgb(img, background)
    except FileNotFoundError:
        raise PhotoError(f"no photo at {path}") from None
    except IsADirectoryError:
        raise PhotoError(f"{path} is a folder, not a photo") from None
    except UnidentifiedImageError:
        raise PhotoError(f"{path} is not an image this tool can read (PNG, JPEG, WebP, TIFF, BMP, GIF ...)") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, Image.DecompressionBombError) as exc:
        raise PhotoError(f"{path} could not be read as an image (truncated or corrupt?): {exc}") from None
    w, h = rgb.size
    if fit == "crop":
        side = min(w, h)
        rgb = rgb.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
    else:
        side = max(w, h)
        canvas = Image.new("RGB", (side, side), background)
        canvas.paste(rgb, ((side - w) // 2, (side - h) // 2))
        rgb = canvas
    return np.asarray(rgb.resize((resolution, resolution), Image.LANCZOS), dtype=np.uint8)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(R, R, 3) uint8 -> (1, 3, R, R) float in [-1, 1], the generators' range."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 127.5 - 1
