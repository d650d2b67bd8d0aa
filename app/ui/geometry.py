"""Screen <-> image geometry and colours for the canvases; pure functions, testable without a display."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

# One colour per level (hierarchical) or object; matches spatialgan.visual.MARKER_COLOURS.
COLOURS = [(255, 70, 70), (70, 200, 255), (255, 210, 60), (120, 255, 120), (230, 120, 255)]
HIT_RADIUS = 12.0  # pixels on screen: how close a click must be to grab a centre


@dataclass(frozen=True)
class Canvas:
    """A square drawing area showing image units [0, 1]^2 at `size` screen pixels."""

    tag: str
    size: int
    level: int | None  # which heatmap level's centres it shows; None: all (image canvas or multi panel)

    def to_screen(self, origin: tuple[float, float], x: float, y: float) -> tuple[float, float]:
        return origin[0] + x * self.size, origin[1] + y * self.size

    def to_image(self, origin: tuple[float, float], sx: float, sy: float) -> tuple[float, float]:
        return (sx - origin[0]) / self.size, (sy - origin[1]) / self.size


def panel_label(level: int | None, resolution: int, num_objects: int, inert: bool = False) -> str:
    """The caption above a heatmap panel; an inert level (see `spatialgan.metrics.levels.inert_levels`) says so,
    so nobody drags centres that the model ignores and concludes the editor is broken."""
    if level is None:
        return f"{num_objects} objects"
    label = f"level {level}: {resolution}x{resolution}"
    return label + "  (little effect in this model)" if inert else label


def hit_centre(centres: list[tuple[int, int, float, float, float, bool]], level: int | None, size: int,
               x: float, y: float) -> tuple[int, int] | None:
    """Nearest centre (level, index) within HIT_RADIUS screen pixels of image-unit point (x, y)."""
    best, best_d = None, HIT_RADIUS / size
    for li, ci, cx, cy, _sigma, _enabled in centres:
        if level is not None and li != level:
            continue
        d = float(np.hypot(cx - x, cy - y))
        if d <= best_d:
            best, best_d = (li, ci), d
    return best


def centre_colour(by_level: bool, level: int, index: int) -> tuple[int, int, int]:
    """A hierarchical layout colours its centres by level, independent objects each their own."""
    return COLOURS[(level if by_level else index) % len(COLOURS)]


_BYTE_TO_FLOAT = np.arange(256, dtype=np.float32) / 255.0


def image_rgba(image: np.ndarray, size: int, out: np.ndarray | None = None, smooth: bool = False) -> np.ndarray:
    """(R, R, 3) uint8 -> flat float32 RGBA at `size` x `size`, written into `out` when given: nearest-upscaled
    (crisp pixels), or with `smooth` bilinear-resized to fill the whole size (a 64 px image at 10x reads as a
    picture rather than blocks). This runs on the GUI thread for every new image, so the crisp path writes each
    output value once (a broadcast into a block view, no temporaries): ~7 ms instead of ~18 ms for 128 -> 640 px."""
    if out is None:
        out = np.empty(size * size * 4, np.float32)
    o = out.reshape(size, size, 4)
    if (smooth and image.shape[0] != size) or image.shape[0] > size:
        # resized as RGBA, so one contiguous multiply fills every channel; a picture larger than the canvas is
        # always resized to fit (1024 px models on a 640 px canvas)
        big = np.asarray(Image.fromarray(image).convert("RGBA").resize((size, size), Image.BILINEAR))
        np.multiply(big, np.float32(1 / 255), out=o)
        return out
    o[..., 3] = 1.0
    f = _BYTE_TO_FLOAT[image]
    r = image.shape[0]
    rep = max(1, size // r)
    if r * rep == size:
        o.reshape(r, rep, r, rep, 4)[..., :3] = f[:, None, :, None, :]
    else:  # sizes that are not a multiple of the resolution: nearest pixels filling the canvas (clicks map to it)
        idx = np.arange(size) * r // size
        o[..., :3] = f[idx][:, idx]
    return out


def heatmap_rgba(heat: np.ndarray, size: int) -> np.ndarray:
    """(r, r) in [0, 1] -> flat float32 RGBA, cells kept visible (nearest), warm colour map."""
    # Nearest-neighbour index map: fills the whole panel whether or not size is a multiple of the map's size
    # (a whole-number repeat left a black margin, and centres drawn in panel space fell off the map).
    idx = np.arange(size) * heat.shape[0] // size
    h = np.clip(heat[idx][:, idx].astype(np.float32), 0, 1)
    out = np.empty((size, size, 4), np.float32)
    out[..., 0] = 0.08 + 0.92 * h
    out[..., 1] = 0.08 + 0.62 * h ** 1.5
    out[..., 2] = 0.16 + 0.1 * (1 - h)
    out[..., 3] = 1.0
    return out.ravel()


def shade_outside(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Show DragGAN's flexible area: pixels outside the mask (which a refine keeps fixed) dimmed and tinted."""
    if mask is None:
        return image
    out = image.astype(np.float32)
    out[~mask] = out[~mask] * 0.45 + np.array([20, 25, 70], np.float32) * 0.55
    return out.round().astype(np.uint8)
