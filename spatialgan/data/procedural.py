"""Procedural stand-ins for LSUN Bedroom and LSUN Cat: emoji sprites composed into rooms and pet photos.

Each image is a pure function of (seed, index), so a dataset needs no files and no state beyond three
ints, pickles cheaply into DataLoader workers, and can say exactly where every object is.
"""

from __future__ import annotations

import colorsys

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import Dataset

from ..errors import SpatialGANError
from .canvas import Canvas, ProceduralSample, fit, jitter
from .sprites import load_sprites

SUPERSAMPLE = 2  # render at 2x and downsample: anti-aliased edges at a fraction of 4x's cost

FLOOR_CLASSES = ["bed", "couch", "chair", "plant", "lamp"]
WALL_CLASSES = ["window", "picture", "mirror", "clock", "door"]
ROOM_CLASSES = FLOOR_CLASSES + WALL_CLASSES
PET_CLASSES = ["cat", "dog", "rabbit", "fox", "hamster"]

# Object heights in units of the room's height (floor to ceiling), as (low, high).
ROOM_HEIGHTS = {"bed": (0.36, 0.5), "couch": (0.3, 0.4), "chair": (0.36, 0.44), "plant": (0.25, 0.45),
                "lamp": (0.55, 0.7), "window": (0.3, 0.45), "picture": (0.18, 0.3), "mirror": (0.28, 0.4),
                "clock": (0.1, 0.16), "door": (0.72, 0.8)}
# How likely each class is to be in a room; beds most of all, since this stands in for bedrooms.
ROOM_WEIGHTS = {"bed": 3.0, "couch": 1.0, "chair": 1.2, "plant": 1.0, "lamp": 1.0,
                "window": 1.5, "picture": 1.2, "mirror": 0.7, "clock": 0.6, "door": 0.8}
PET_WEIGHTS = {"cat": 0.6, "dog": 0.3, "rabbit": 0.04, "fox": 0.03, "hamster": 0.03}


def hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32) * 255


def rgb(c: np.ndarray) -> tuple[int, int, int]:
    r, g, b = np.clip(c, 0, 255).astype(int)
    return int(r), int(g), int(b)


class ProceduralDataset(Dataset):
    """`__getitem__` -> (3, R, R) float32 in [-1, 1]; `sample(i)` -> the image with its annotations."""

    CLASSES: list[str] = []

    def __init__(self, resolution: int = 64, length: int = 100_000, seed: int = 0) -> None:
        if resolution < 8 or resolution & (resolution - 1):
            raise SpatialGANError(f"resolution must be a power of two >= 8, got {resolution}")
        if length < 1:
            raise SpatialGANError(f"length must be positive, got {length}")
        self.resolution, self.length, self.seed = resolution, length, seed
        load_sprites(tuple(self.CLASSES))  # fail here, not inside a DataLoader worker

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self._draw(self._rng(index), annotate=False).render()
        return torch.from_numpy(image.copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)

    def sample(self, index: int) -> ProceduralSample:
        canvas = self._draw(self._rng(index), annotate=True)
        return canvas.sample(canvas.render())

    def _rng(self, index: int) -> np.random.Generator:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length}")
        return np.random.default_rng([self.seed, index])

    def _draw(self, rng: np.random.Generator, annotate: bool) -> Canvas:
        """The picture for one index; `annotate=False` skips the bookkeeping that masks need."""
        raise NotImplementedError


class RoomsDataset(ProceduralDataset):
    """A one-point-perspective room with 2-4 pieces of furniture: the LSUN Bedroom stand-in."""

    CLASSES = ROOM_CLASSES

    def _draw(self, rng: np.random.Generator, annotate: bool) -> Canvas:
        S = self.resolution * SUPERSAMPLE
        img = Image.new("RGB", (S, S))
        back = draw_room(ImageDraw.Draw(img), rng, S)
        canvas = Canvas(img, self.resolution, SUPERSAMPLE)
        place_furniture(canvas, rng, back, annotate)
        canvas.image = light(canvas.image, rng)
        return canvas


class PetsDataset(ProceduralDataset):
    """One animal, mostly near the centre, over a soft background: the LSUN Cat stand-in."""

    CLASSES = PET_CLASSES

    def _draw(self, rng: np.random.Generator, annotate: bool) -> Canvas:
        S = self.resolution * SUPERSAMPLE
        names = list(PET_WEIGHTS)
        cls = str(rng.choice(names, p=np.array(list(PET_WEIGHTS.values())) / sum(PET_WEIGHTS.values())))
        sprites = load_sprites((cls,))[cls]
        sprite = sprites[rng.integers(len(sprites))]
        side = rng.uniform(0.35, 0.75) * S
        w, h = sprite.size
        sprite = fit(sprite, side * h / max(w, h))
        if rng.random() < 0.5:
            sprite = sprite.transpose(Image.FLIP_LEFT_RIGHT)
        sprite = jitter(sprite, rng, 0.12).rotate(rng.uniform(-15, 15), Image.BICUBIC, expand=True)
        if rng.random() < 0.8:
            cx, cy = np.clip(rng.normal(0.5, 0.07, 2), 0.3, 0.7)
        else:
            cx, cy = rng.uniform(0.2, 0.8, 2)
        x, y = round(cx * S - sprite.width / 2), round(cy * S - sprite.height / 2)
        shadow = (cx, (y + sprite.height * 0.95) / S, sprite.width / S)
        canvas = Canvas(pet_background(rng, S, shadow), self.resolution, SUPERSAMPLE)
        canvas.paste(sprite, x, y, cls, annotate)
        return canvas


# ---- rooms ----

def draw_room(draw: ImageDraw.ImageDraw, rng: np.random.Generator, S: int) -> tuple[float, float, float, float, float]:
    """Paint the walls, floor and ceiling; returns the back wall (x0, y0, x1, y1) and the horizon y."""
    vx, vy = rng.uniform(0.3, 0.7) * S, rng.uniform(0.38, 0.55) * S   # vanishing point, at eye height
    bw, bh = rng.uniform(0.45, 0.8) * S, rng.uniform(0.42, 0.6) * S
    x0 = vx - bw * rng.uniform(0.25, 0.75)
    y0 = vy - bh * rng.uniform(0.45, 0.62)
    x1, y1 = x0 + bw, y0 + bh
    corners = {"tl": (x0, y0), "tr": (x1, y0), "bl": (x0, y1), "br": (x1, y1)}
    far = {k: (vx + 12 * (px - vx), vy + 12 * (py - vy)) for k, (px, py) in corners.items()}

    wall = hsv(rng.uniform(0, 1), rng.uniform(0.04, 0.35), rng.uniform(0.6, 0.95))
    kind = rng.integers(3)
    if kind == 0:    # wood
        floor = hsv(rng.uniform(0.05, 0.1), rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.7))
    elif kind == 1:  # carpet
        floor = hsv(rng.uniform(0, 1), rng.uniform(0.1, 0.45), rng.uniform(0.3, 0.75))
    else:            # pale tiles / laminate
        floor = hsv(rng.uniform(0.05, 0.15), rng.uniform(0.02, 0.2), rng.uniform(0.6, 0.85))
    ceiling = hsv(rng.uniform(0.05, 0.15), rng.uniform(0.0, 0.08), rng.uniform(0.85, 1.0))
    left_shade, right_shade = rng.uniform(0.7, 0.95, 2)

    def quad(a: str, b: str, fill: np.ndarray) -> None:
        draw.polygon([corners[a], corners[b], far[b], far[a]], fill=rgb(fill))

    draw.rectangle((x0, y0, x1, y1), fill=rgb(wall))
    quad("tl", "bl", wall * left_shade)
    quad("tr", "br", wall * right_shade)
    quad("bl", "br", floor)
    quad("tl", "tr", ceiling * 0.95)
    if kind != 1:  # boards or tile joints converging on the vanishing point sell the perspective
        line = rgb(floor * 0.8)
        for t in np.linspace(0, 1, int(rng.integers(5, 10)))[1:-1]:
            px = x0 + t * bw
            draw.line([(px, y1), (vx + 12 * (px - vx), vy + 12 * (y1 - vy))], fill=line, width=1)
    skirting = rgb(wall * 0.6 if rng.random() < 0.5 else hsv(0, 0, 0.95))
    draw.line([(x0, y1), (x1, y1)], fill=skirting, width=max(1, S // 64))
    return x0, y0, x1, y1, vy


def place_furniture(canvas: Canvas, rng: np.random.Generator, back: tuple[float, ...], annotate: bool) -> None:
    """2-4 objects: wall objects on the back wall, floor objects standing on the floor, far to near."""
    S = canvas.size
    x0, y0, x1, y1, vy = back
    bh = y1 - y0
    weights = np.array([ROOM_WEIGHTS[c] for c in ROOM_CLASSES])
    chosen = rng.choice(ROOM_CLASSES, size=int(rng.integers(2, 5)), replace=False, p=weights / weights.sum())
    sprites = load_sprites(tuple(ROOM_CLASSES))
    placed: list[tuple[float, Image.Image, int, int, str]] = []  # (depth key, sprite, x, y, class)
    for cls in map(str, chosen):
        options = sprites[cls]
        sprite = options[rng.integers(len(options))]
        if cls in FLOOR_CLASSES and rng.random() < 0.5:
            sprite = sprite.transpose(Image.FLIP_LEFT_RIGHT)
        height = rng.uniform(*ROOM_HEIGHTS[cls]) * bh
        if cls in WALL_CLASSES:
            if cls == "door":
                bottom = y1
            else:
                bottom = y0 + bh * rng.uniform(0.45, 0.7)
                height = min(height, bottom - y0 - 0.05 * bh)
            sprite = jitter(fit(sprite, height, max_width=0.8 * (x1 - x0)), rng, 0.1)
            x = rng.uniform(x0, max(x0, x1 - sprite.width))
            placed.append((-1.0, sprite, round(x), round(bottom - sprite.height), cls))
        else:
            # standing on the floor at `bottom`: things nearer the camera (lower) are drawn bigger
            # beds, the point of a bedroom, keep to the nearer part of the floor so they stay large
            near = rng.uniform(0.35 if cls == "bed" else 0.03, 1.0)
            bottom = y1 + (S * 1.02 - y1) * near ** 1.3
            grow = (bottom - vy) / (y1 - vy)
            sprite = jitter(fit(sprite, height * grow, max_width=0.75 * S), rng, 0.1)
            x = rng.uniform(-0.1 * sprite.width, S - 0.9 * sprite.width)
            placed.append((bottom, sprite, round(x), round(bottom - sprite.height), cls))
    placed.sort(key=lambda p: p[0])  # painter's algorithm: wall first, then floor far to near
    for _, sprite, x, y, cls in placed:
        canvas.paste(sprite, x, y, cls, annotate)


def light(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Overall exposure and a soft fall-off from a light somewhere in the upper part of the room."""
    S = img.width
    lx, ly = rng.uniform(0, 1), rng.uniform(-0.2, 0.5)
    yy, xx = np.mgrid[0:1:8j, 0:1:8j]
    gain = rng.uniform(0.8, 1.1) * (1.15 - rng.uniform(0.2, 0.5) * ((xx - lx) ** 2 + (yy - ly) ** 2))
    gain_img = Image.fromarray(np.clip(gain * 128, 0, 255).astype(np.uint8), "L").resize((S, S), Image.BILINEAR)
    arr = np.asarray(img).astype(np.uint16) * np.asarray(gain_img)[..., None] >> 7
    return Image.fromarray(np.minimum(arr, 255).astype(np.uint8), "RGB")


# ---- pets ----

def pet_background(rng: np.random.Generator, S: int, shadow: tuple[float, float, float]) -> Image.Image:
    """A soft, out-of-focus-looking background built at 16 px and upsampled: gradient, two-tone or blotches."""
    n = 16
    yy, xx = np.mgrid[0:1:n * 1j, 0:1:n * 1j]
    base = hsv(rng.uniform(0, 1), rng.uniform(0.05, 0.6), rng.uniform(0.25, 0.95))
    other = hsv(rng.uniform(0, 1), rng.uniform(0.05, 0.6), rng.uniform(0.25, 0.95))
    kind = rng.integers(3)
    if kind == 0:    # gradient in a random direction
        a = rng.uniform(0, 2 * np.pi)
        t = np.clip((np.cos(a) * (xx - 0.5) + np.sin(a) * (yy - 0.5)) + 0.5, 0, 1)[..., None]
        bg = base * (1 - t) + other * t
    elif kind == 1:  # wall and floor (or sofa and cushion): two tones split by a tilted line
        edge = rng.uniform(0.45, 0.85) + rng.uniform(-0.2, 0.2) * (xx - 0.5)
        t = np.clip((yy - edge) * n / 1.5 + 0.5, 0, 1)[..., None]
        bg = base * (1 - t) + other * t
    else:            # large soft blotches around one colour
        k = int(rng.integers(3, 7))
        noise = rng.normal(0, rng.uniform(15, 35), (k, k, 3)) + 128
        noise_img = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8), "RGB").resize((n, n), Image.BICUBIC)
        bg = base + np.asarray(noise_img).astype(np.float32) - 128
        bg = bg * (1 - 0.3 * yy[..., None])
    bg = bg + rng.normal(0, 1.5, (n, n, 3))  # a little texture everywhere
    sx, sy, sw = shadow
    bg = bg * (1 - 0.35 * np.exp(-(((xx - sx) / (0.45 * sw)) ** 2 + ((yy - sy) / 0.06) ** 2)))[..., None]
    small = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "RGB")
    return small.resize((S, S), Image.BICUBIC)
