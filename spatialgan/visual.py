"""Turning tensors into pictures: images, heatmaps and centre markers as uint8 arrays, and grids."""

from __future__ import annotations

import numpy as np
import torch

from .heatmaps import HeatmapSpec

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


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    return img.repeat(factor, 0).repeat(factor, 1) if factor > 1 else img


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


def _disc(out: np.ndarray, x: float, y: float, radius: float, colour: tuple[int, int, int]) -> None:
    h, w = out.shape[:2]
    x0, x1 = max(int(x - radius - 1), 0), min(int(x + radius + 2), w)
    y0, y1 = max(int(y - radius - 1), 0), min(int(y + radius + 2), h)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d = np.hypot(xx + 0.5 - x, yy + 0.5 - y)
    out[y0:y1, x0:x1][d <= radius + 1.2] = (255, 255, 255)  # a white rim reads on any picture
    out[y0:y1, x0:x1][d <= radius] = colour


def draw_points(img: np.ndarray, handles: list[tuple[float, float]], targets: list[tuple[float, float]],
                scale: int = 1) -> np.ndarray:
    """DragGAN's markers on an (upscaled by `scale`) image: a white line from each handle (red) to its target
    (blue). Points are pixels of the model's resolution, as the editor and `spatialgan-edit` give them."""
    out = img.copy()
    radius = max(2.0, 1.5 * scale)

    def at(p: tuple[float, float]) -> tuple[float, float]:
        return (p[0] + 0.5) * scale, (p[1] + 0.5) * scale

    for h, t in zip(handles, targets):
        (hx, hy), (tx, ty) = at(h), at(t)
        n = int(max(abs(tx - hx), abs(ty - hy))) + 1
        for k in range(n + 1):
            _disc(out, hx + (tx - hx) * k / n, hy + (ty - hy) * k / n, 0.6, (255, 255, 255))
    for t in targets:
        _disc(out, *at(t), radius, (40, 110, 255))
    for h in handles:
        _disc(out, *at(h), radius, (255, 40, 40))
    return out
