"""Turning tensors into pictures: images, heatmaps and centre markers as uint8 arrays, and grids."""

from __future__ import annotations

import numpy as np
import torch

from .heatmaps import HeatmapSpec
from .video import draw_points, upscale

__all__ = ["MARKER_COLOURS", "draw_centres", "draw_points", "grid", "heatmap_to_uint8", "to_uint8", "upscale"]

# One colour per level (hierarchical) or object (multi), cycling.
MARKER_COLOURS = [(255, 70, 70), (70, 200, 255), (255, 210, 60), (120, 255, 120), (230, 120, 255)]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    if image.ndim == 4:
        image = image[0]
    x = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 0).numpy()


def heatmap_to_uint8(heatmap: torch.Tensor, size: int) -> np.ndarray:
    """(r, r) map in [0, 1] -> (size, size, 3) uint8, nearest-upscaled so the coarse cells stay visible."""
    h = heatmap.detach().float().cpu().clamp(0, 1).numpy()
    rep = max(1, size // h.shape[0])
    h = np.kron(h, np.ones((rep, rep)))
    grey = (h * 255).astype(np.uint8)
    return np.stack([grey, (grey * 0.6).astype(np.uint8), (255 - grey) // 3], -1)


def draw_centres(img: np.ndarray, spec: HeatmapSpec, radius: int = 3) -> np.ndarray:
    """Mark every enabled centre of a spec on an image (filled squares, one colour per level/object)."""
    out = img.copy()
    h, w = out.shape[:2]
    for li, level in enumerate(spec.levels):
        for ci, c in enumerate(level):
            if not c.enabled or c.weight <= 0:
                continue
            x, y = spec.absolute(li, ci)
            px, py = int(round(x * w)), int(round(y * h))
            colour = MARKER_COLOURS[(li if spec.mode == "hierarchical" else ci) % len(MARKER_COLOURS)]
            x0, x1 = max(px - radius, 0), min(px + radius + 1, w)
            y0, y1 = max(py - radius, 0), min(py + radius + 1, h)
            if x0 < x1 and y0 < y1:
                out[y0:y1, x0:x1] = colour
    return out


def grid(images: list[np.ndarray], columns: int, pad: int = 2) -> np.ndarray:
    """Tile equally sized (H, W, 3) images row-major with a dark gap."""
    h, w, _ = images[0].shape
    rows = (len(images) + columns - 1) // columns
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 24, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = im
    return out

