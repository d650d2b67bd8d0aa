"""Screen <-> image geometry and colours for the canvases; pure functions, testable without a display."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

# One colour per level (hierarchical) or object; matches spatialgan.visual.MARKER_COLOURS.
COLOURS = [(255, 70, 70), (70, 200, 255), (255, 210, 60), (120, 255, 120), (230, 120, 255)]
HIT_RADIUS = 12.0  # pixels on screen: how close a click must be to grab a centre


MAX_ZOOM = 16.0


@dataclass
class View:
    """Which part of the image a canvas shows: `zoom` >= 1 times magnified around the image point (cx, cy)."""

    zoom: float = 1.0
    cx: float = 0.5
    cy: float = 0.5

    def window(self) -> tuple[float, float, float]:
        """(x0, y0, width) of the visible square in image units, kept inside the image."""
        w = 1.0 / self.zoom
        x0 = min(max(self.cx - w / 2, 0.0), 1.0 - w)
        y0 = min(max(self.cy - w / 2, 0.0), 1.0 - w)
        return x0, y0, w

    def zoom_at(self, factor: float, x: float, y: float) -> None:
        """Magnify by `factor` keeping image point (x, y) where it is on screen (the point under the mouse)."""
        x0, y0, w = self.window()
        u, v = (x - x0) / w, (y - y0) / w  # where (x, y) sits in the view, 0..1
        self.zoom = float(min(max(self.zoom * factor, 1.0), MAX_ZOOM))
        nw = 1.0 / self.zoom
        self.cx, self.cy = x - u * nw + nw / 2, y - v * nw + nw / 2
        self._clamp()

    def pan(self, dx: float, dy: float) -> None:
        """Move the view by (dx, dy) image units."""
        self.cx, self.cy = self.cx + dx, self.cy + dy
        self._clamp()

    def reset(self) -> None:
        self.zoom, self.cx, self.cy = 1.0, 0.5, 0.5

    def _clamp(self) -> None:
        x0, y0, w = self.window()
        self.cx, self.cy = x0 + w / 2, y0 + w / 2


@dataclass
class Canvas:
    """A square drawing area of `size` screen pixels showing image units [0, 1]^2, or with a `view` part of it."""

    tag: str
    size: int
    level: int | None  # which heatmap level's centres it shows; None: all (image canvas or multi panel)
    view: View | None = None  # zoom and pan (the image canvas); None: always the whole image

    def _window(self) -> tuple[float, float, float]:
        return self.view.window() if self.view is not None else (0.0, 0.0, 1.0)

    def to_screen(self, origin: tuple[float, float], x: float, y: float) -> tuple[float, float]:
        lx, ly = self.to_local(x, y)
        return origin[0] + lx, origin[1] + ly

    def to_local(self, x: float, y: float) -> tuple[float, float]:
        """Image units -> pixels inside the canvas."""
        x0, y0, w = self._window()
        return (x - x0) / w * self.size, (y - y0) / w * self.size

    def to_image(self, origin: tuple[float, float], sx: float, sy: float) -> tuple[float, float]:
        x0, y0, w = self._window()
        return x0 + (sx - origin[0]) / self.size * w, y0 + (sy - origin[1]) / self.size * w

    @property
    def scale(self) -> float:
        """Screen pixels per image unit."""
        return self.size / self._window()[2]


def fit_viewport(screen: tuple[int, int] | None, wanted: tuple[int, int] = (1400, 900)) -> tuple[int, int, int, int]:
    """(width, height, x, y) of the editor's window: `wanted`, shrunk to fit the screen with a margin for the
    desktop's panels, centred on it; `wanted` at (100, 100) when the screen size is unknown."""
    if screen is None or min(screen) <= 0:
        return wanted[0], wanted[1], 100, 100
    sw, sh = screen
    w, h = max(640, min(wanted[0], sw - 40)), max(480, min(wanted[1], sh - 80))
    return w, h, max(0, (sw - w) // 2), max(0, (sh - h) // 3)


def image_side(client: tuple[int, int], controls_width: int, chrome_height: int, lo: int = 256,
               hi: int = 1024) -> int:
    """The image canvas's side for a window client area: as large as fits beside the controls column and under
    the toolbar and status lines."""
    w, h = client
    return int(max(lo, min(hi, w - controls_width - 30, h - chrome_height)))


def panel_label(level: int | None, resolution: int, num_objects: int, inert: bool = False) -> str:
    """The caption above a heatmap panel; an inert level (see `spatialgan.metrics.levels.inert_levels`) says so,
    so nobody drags centres that the model ignores and concludes the editor is broken."""
    if level is None:
        return f"{num_objects} objects"
    label = f"level {level}: {resolution}x{resolution}"
    return label + "  (little effect in this model)" if inert else label


def hit_centre(centres: list[tuple[int, int, float, float, float, bool]], level: int | None, scale: float,
               x: float, y: float) -> tuple[int, int] | None:
    """Nearest centre (level, index) within HIT_RADIUS screen pixels of image-unit point (x, y); `scale`: screen
    pixels per image unit."""
    best, best_d = None, HIT_RADIUS / scale
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


def tint_attention(image: np.ndarray, attention: np.ndarray) -> np.ndarray:
    """Where the discriminator looks, over the picture: warm where GradCAM is high, the picture as it is where low."""
    r = image.shape[0]
    idx = np.arange(r) * attention.shape[0] // r
    a = np.clip(attention[idx][:, idx].astype(np.float32), 0, 1)[..., None] * 0.65
    return (image.astype(np.float32) * (1 - a) + np.array([255, 70, 0], np.float32) * a).round().astype(np.uint8)


def outline_region(image: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    """The object tool's selection `region` (r, r) bool on any grid, outlined in yellow over the picture (a line
    about 1/128 of the picture wide, so that a large model's is seen too)."""
    if region is None:
        return image
    r = image.shape[0]
    idx = np.arange(r) * region.shape[0] // r
    m = region[idx][:, idx]
    inner = m.copy()
    for _ in range(max(1, r // 128)):
        inner[1:] &= inner[:-1].copy()
        inner[:-1] &= inner[1:].copy()
        inner[:, 1:] &= inner[:, :-1].copy()
        inner[:, :-1] &= inner[:, 1:].copy()
    out = image.copy()
    out[m & ~inner] = (255, 220, 0)
    return out


def middle(text: str, limit: int) -> str:
    """`text` shortened in the middle to `limit` characters: the start and the end (a file's name) both stay."""
    if len(text) <= limit:
        return text
    keep = max(1, limit - 3)
    return text[: keep - keep // 2] + "..." + text[len(text) - keep // 2:]
