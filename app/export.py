"""Writing the edit history as a video (animated GIF or MP4, `spatialgan.video`). No torch and no Dear PyGui here.

The worker renders one image per undo state (oldest first, the current picture last); `write_history`
turns them into frames. Each frame gets a thin progress bar under the image: it shows where in the history
the frame is, and it keeps consecutive frames distinct, so Pillow does not merge edits that left the picture
unchanged (adding a DragGAN point, say) and the GIF has exactly one frame per history state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from spatialgan.errors import SpatialGANError
from spatialgan.video import check_video_path, write_video

BAR_HEIGHT = 4  # image pixels (before scaling) of the progress bar under each frame
MAX_SCALE = 8


class ExportError(SpatialGANError, ValueError):
    """An export path or frame list that cannot be written; the message says why."""


def check_history_path(path: str | os.PathLike) -> Path:
    """The path as a Path if the history can be written there as a video (.gif or .mp4); `ExportError` naming
    the problem otherwise."""
    try:
        return check_video_path(path)
    except SpatialGANError as exc:
        raise ExportError(f"the history is exported as a video: {exc}") from None


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


def write_history(path: str | os.PathLike, images: Sequence[np.ndarray], scale: int = 2,
                  ms_per_frame: int = 500, hold_last_ms: int = 1500) -> Path:
    """Write `images` (oldest first) as a looping GIF or an MP4, one frame per state, each with its bar; the
    GIF holds the last picture longer. Returns the path."""
    p = check_history_path(path)
    if not images:
        raise ExportError("the history is empty: nothing to export")
    if not 1 <= scale <= MAX_SCALE:
        raise ExportError(f"scale must be in 1..{MAX_SCALE}, got {scale}")
    n = len(images)
    frames = [history_frame(np.asarray(im), i, n, scale) for i, im in enumerate(images)]
    try:
        return write_video(p, frames, fps=1000 / ms_per_frame, hold_last_s=hold_last_ms / 1000)
    except SpatialGANError as exc:
        raise ExportError(str(exc)) from None
