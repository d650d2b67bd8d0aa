"""Writing the edit history as an animated GIF with Pillow. No torch and no Dear PyGui here.

The worker renders one image per undo state (oldest first, the current picture last); `write_history_gif`
turns them into frames. Each frame gets a thin progress bar under the image: it shows where in the history
the frame is, and it keeps consecutive frames distinct, so Pillow does not merge edits that left the picture
unchanged (adding a DragGAN point, say) and the GIF has exactly one frame per history state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from spatialgan.errors import SpatialGANError

BAR_HEIGHT = 4  # image pixels (before scaling) of the progress bar under each frame
MAX_SCALE = 8


class ExportError(SpatialGANError, ValueError):
    """An export path or frame list that cannot be written; the message says why."""


def check_gif_path(path: str | os.PathLike) -> Path:
    """The path as a Path if a GIF can be written there; `ExportError` naming the problem otherwise."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise ExportError(f"{p} is a folder; give a file name ending in .gif")
    if p.suffix.lower() != ".gif":
        raise ExportError(f"the history is exported as an animated GIF: give a path ending in .gif, not {str(p)!r}")
    if not p.parent.is_dir():
        raise ExportError(f"folder {p.parent} does not exist")
    return p


def history_frame(image: np.ndarray, index: int, total: int, scale: int = 1) -> np.ndarray:
    """(R, R, 3) uint8 -> (scale * (R + BAR_HEIGHT), scale * R, 3): nearest-upscaled, with a bar showing
    `index + 1` of `total` states."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ExportError(f"frames must be (H, W, 3) uint8 images, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    bar = np.full((BAR_HEIGHT, w, 3), 40, np.uint8)
    bar[:, : max(1, round(w * (index + 1) / total))] = (90, 200, 255)
    frame = np.concatenate([image, bar], 0)
    return frame.repeat(scale, 0).repeat(scale, 1) if scale > 1 else frame


def write_history_gif(path: str | os.PathLike, images: Sequence[np.ndarray], scale: int = 2,
                      ms_per_frame: int = 500, hold_last_ms: int = 1500) -> Path:
    """Write `images` (oldest first) as a looping GIF; the last picture is held longer. Returns the path."""
    p = check_gif_path(path)
    if not images:
        raise ExportError("the history is empty: nothing to export")
    if not 1 <= scale <= MAX_SCALE:
        raise ExportError(f"scale must be in 1..{MAX_SCALE}, got {scale}")
    n = len(images)
    frames = [Image.fromarray(history_frame(np.asarray(im), i, n, scale)) for i, im in enumerate(images)]
    durations = [ms_per_frame] * (n - 1) + [max(ms_per_frame, hold_last_ms)]
    tmp = p.with_name(p.name + ".tmp")
    try:
        # format= because the temporary name does not end in .gif; written aside, then moved, so a failed
        # export never leaves half a file under the user's name.
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
        os.replace(tmp, p)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # the leftover is ours and harmless; the write error is what the user needs to see
        raise ExportError(f"cannot write {p}: {exc.strerror or exc}") from None
    return p
