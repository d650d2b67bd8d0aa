"""The emoji sprites under assets/sprites/<class>/<name>.png, loaded once per process."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from PIL import Image

import spatialgan

from ..errors import SpatialGANError


def sprites_dir() -> Path:
    """`$SPATIALGAN_SPRITES`, else the repository's assets/sprites/ folder."""
    default = Path(spatialgan.__file__).resolve().parents[1] / "assets" / "sprites"
    return Path(os.environ.get("SPATIALGAN_SPRITES", default))


def load_sprites(classes: tuple[str, ...] | None = None) -> dict[str, list[Image.Image]]:
    """class -> its RGBA sprites (decoded, shared: do not modify them); only `classes` if given."""
    found = _load_all(sprites_dir())
    if classes is None:
        return found
    missing = [c for c in classes if c not in found]
    if missing:
        raise SpatialGANError(f"no sprites for class(es) {', '.join(missing)} in {sprites_dir()} "
                              f"(re-run tools/render_sprites.py)")
    return {c: found[c] for c in classes}


@functools.lru_cache(maxsize=4)
def _load_all(root: Path) -> dict[str, list[Image.Image]]:
    if not root.is_dir():
        raise SpatialGANError(f"sprite folder {root} not found; set SPATIALGAN_SPRITES or run "
                              f"tools/render_sprites.py from a source checkout")
    out: dict[str, list[Image.Image]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = []
        for path in sorted(folder.glob("*.png")):
            with Image.open(path) as im:
                images.append(im.convert("RGBA"))
        if images:
            out[folder.name] = images
    if not out:
        raise SpatialGANError(f"no sprites (<class>/<name>.png) found in {root}")
    return out
