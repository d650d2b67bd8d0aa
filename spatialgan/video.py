"""Videos of edits: MP4 (H.264, through the ffmpeg binary the `imageio-ffmpeg` wheel ships, so no system ffmpeg
is needed) or animated GIF (Pillow), one frame per picture given.

Small model images are upscaled by whole pixels (`video_scale`) so that a 64 px edit is watchable; the MP4 is
padded to even sizes, which H.264's 4:2:0 colour needs, and written through a temporary file, so a failed or
interrupted export never leaves half a video under the user's name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .errors import SpatialGANError
from .files import FileError, check_output, write_atomic

VIDEO_SUFFIXES = (".mp4", ".gif")
MIN_SIDE = 256  # frames are upscaled by a whole factor to at least this many pixels
MAX_SCALE = 8
MP4_CRF = 16  # x264 quality: visually lossless for these images (the tests decode and compare)


class VideoError(SpatialGANError, ValueError):
    """A video cannot be written as asked; the message says why."""


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling by a whole factor (crisp model pixels)."""
    return img.repeat(factor, 0).repeat(factor, 1) if factor > 1 else img


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


def check_video_path(path: str | os.PathLike) -> Path:
    """The path as a Path if a video can be written there (.mp4 or .gif); `VideoError` otherwise."""
    try:
        return check_output(path, VIDEO_SUFFIXES, "video")
    except FileError as exc:
        raise VideoError(str(exc)) from None


def video_scale(resolution: int) -> int:
    """The whole-pixel upscale that brings a `resolution` px image to at least MIN_SIDE (at most MAX_SCALE)."""
    return int(min(MAX_SCALE, max(1, -(-MIN_SIDE // max(1, resolution)))))


def _check_frames(frames: Sequence[np.ndarray]) -> tuple[int, int]:
    if not frames:
        raise VideoError("no frames to write")
    shape = frames[0].shape
    for i, f in enumerate(frames):
        if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8 or f.shape != shape:
            raise VideoError(f"frame {i} is {f.shape} {f.dtype}; every frame must be ({shape[0]}, {shape[1]}, 3) uint8")
    return shape[0], shape[1]


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _write_mp4(tmp: Path, frames: Sequence[np.ndarray], fps: float) -> None:
    import imageio_ffmpeg  # imported here: a GIF or a session never needs ffmpeg

    h, w = _even(frames[0]).shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(tmp), (w, h), fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p", quality=None,
        macro_block_size=1, ffmpeg_log_level="error",
        output_params=["-crf", str(MP4_CRF), "-preset", "medium", "-movflags", "+faststart", "-f", "mp4"])
    writer.send(None)  # start ffmpeg
    try:
        for f in frames:
            writer.send(np.ascontiguousarray(_even(f)))
    finally:
        writer.close()


def _write_gif(tmp: Path, frames: Sequence[np.ndarray], fps: float, hold_last_s: float) -> None:
    ms = max(20, round(1000 / fps))
    durations = [ms] * (len(frames) - 1) + [max(ms, round(hold_last_s * 1000))]
    images = [Image.fromarray(f) for f in frames]
    # format= because the temporary name does not end in .gif
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)


def write_video(path: str | os.PathLike, frames: Sequence[np.ndarray], fps: float = 10.0,
                hold_last_s: float = 1.5) -> Path:
    """Write `frames` ((H, W, 3) uint8, all the same size) as an MP4 or a looping GIF, chosen by the suffix.
    An MP4 has exactly one video frame per picture; a GIF shows its last picture `hold_last_s` longer."""
    p = check_video_path(path)
    _check_frames(frames)
    if not (0.1 <= fps <= 120):
        raise VideoError(f"fps must be in 0.1..120, got {fps}")
    try:
        if p.suffix.lower() == ".mp4":
            return write_atomic(p, lambda tmp: _write_mp4(tmp, frames, fps), VIDEO_SUFFIXES, "video")
        return write_atomic(p, lambda tmp: _write_gif(tmp, frames, fps, hold_last_s), VIDEO_SUFFIXES, "video")
    except FileError as exc:
        raise VideoError(str(exc)) from None
    except (RuntimeError, BrokenPipeError) as exc:  # ffmpeg failed (imageio-ffmpeg reports its stderr)
        raise VideoError(f"ffmpeg could not write {p}: {str(exc)[-300:]}") from None


def read_video(path: str | os.PathLike) -> list[np.ndarray]:
    """Decode every frame of an MP4 or GIF as (H, W, 3) uint8 (for checks and tests)."""
    p = Path(path)
    if p.suffix.lower() == ".gif":
        with Image.open(p) as im:
            out = []
            for i in range(im.n_frames):
                im.seek(i)
                out.append(np.asarray(im.convert("RGB")))
            return out
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(p))
    meta = next(gen)
    w, h = meta["size"]
    return [np.frombuffer(b, np.uint8).reshape(h, w, 3).copy() for b in gen]
