"""A supersampled drawing surface that remembers which object owns each pixel, for masks of visible parts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass
class ProceduralSample:
    """One rendered image with per-object annotations; coordinates in image units [0, 1], x right, y down."""

    image: np.ndarray        # (R, R, 3) uint8
    masks: np.ndarray        # (n, R, R) bool: the visible part of each object, after occlusion
    centres: np.ndarray      # (n, 2) float32: centroid (x, y) of each mask
    classes: list[str]
    boxes: np.ndarray        # (n, 4) float32: x0, y0, x1, y1 of each mask
    full_areas: np.ndarray   # (n,) int64: pixels each object would cover with nothing in front of it


class Canvas:
    """Paint back to front at `supersample` x the resolution; later pastes cover earlier ones."""

    def __init__(self, background: Image.Image, resolution: int, supersample: int) -> None:
        self.resolution, self.scale = resolution, supersample
        self.size = resolution * supersample
        assert background.size == (self.size, self.size) and background.mode == "RGB"
        self.image = background
        self.owner = np.full((self.size, self.size), -1, np.int16)
        self.classes: list[str] = []
        self.full_areas: list[int] = []

    def paste(self, sprite: Image.Image, x: int, y: int, cls: str, annotate: bool = True) -> None:
        """Alpha-blend an RGBA sprite with its top-left corner at canvas pixel (x, y)."""
        self.image.paste(sprite, (x, y), sprite)
        if not annotate:
            return
        w, h = sprite.size
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, self.size), min(y + h, self.size)
        if x1 <= x0 or y1 <= y0:
            return
        alpha = np.asarray(sprite.getchannel("A"))[y0 - y:y1 - y, x0 - x:x1 - x] > 127
        own = np.zeros((self.size, self.size), bool)
        own[y0:y1, x0:x1] = alpha
        k = len(self.classes)
        self.owner[own] = k
        self.classes.append(cls)
        self.full_areas.append(int(self._downsample(own).sum()))

    def _downsample(self, hi: np.ndarray) -> np.ndarray:
        """Hi-res bool mask -> output-res mask of pixels more than half covered (so masks stay disjoint)."""
        r, s = self.resolution, self.scale
        return hi.reshape(r, s, r, s).mean(axis=(1, 3)) > 0.5

    def render(self) -> np.ndarray:
        """The image at the output resolution; LANCZOS downsampling is the anti-aliasing."""
        return np.asarray(self.image.resize((self.resolution, self.resolution), Image.LANCZOS))

    def sample(self, image: np.ndarray) -> ProceduralSample:
        """Annotations of the objects still visible; fully covered ones are dropped."""
        r = self.resolution
        masks, classes, areas = [], [], []
        for k, cls in enumerate(self.classes):
            m = self._downsample(self.owner == k)
            if m.any():
                masks.append(m)
                classes.append(cls)
                areas.append(self.full_areas[k])
        n = len(masks)
        mask_arr = np.stack(masks) if n else np.zeros((0, r, r), bool)
        centres = np.zeros((n, 2), np.float32)
        boxes = np.zeros((n, 4), np.float32)
        coord = (np.arange(r, dtype=np.float64) + 0.5) / r  # pixel centres in image units
        for k, m in enumerate(masks):
            ys, xs = np.nonzero(m)
            centres[k] = coord[xs].mean(), coord[ys].mean()
            boxes[k] = xs.min() / r, ys.min() / r, (xs.max() + 1) / r, (ys.max() + 1) / r
        return ProceduralSample(image=image, masks=mask_arr, centres=centres, classes=classes, boxes=boxes,
                                full_areas=np.asarray(areas, np.int64))


def fit(sprite: Image.Image, height: float, max_width: float | None = None) -> Image.Image:
    """The sprite resized to `height` pixels (keeping its aspect), narrowed to `max_width` if given."""
    w, h = sprite.size
    scale = height / h
    if max_width is not None:
        scale = min(scale, max_width / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return sprite.resize(size, Image.LANCZOS)


def jitter(sprite: Image.Image, rng: np.random.Generator, amount: float) -> Image.Image:
    """Scale each colour channel and the brightness by a little, so copies of one sprite differ."""
    gains = rng.uniform(1 - amount, 1 + amount, 3) * rng.uniform(1 - amount, 1 + amount)
    arr = np.asarray(sprite).astype(np.float32)
    arr[..., :3] *= gains
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGBA")
