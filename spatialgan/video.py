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
