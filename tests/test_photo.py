"""Photos as people have them: every common mode, any aspect ratio, EXIF orientation, and one clear line for a file
that is not a readable image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spatialgan.photo import PhotoError, load_photo, to_tensor


def _left_red(w: int = 80, h: int = 40) -> Image.Image:
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2] = (255, 0, 0)
    a[:, w // 2:] = (0, 0, 255)
    return Image.fromarray(a)


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA", "LA", "CMYK", "I;16", "F"])
def test_every_mode_becomes_rgb(tmp_path: Path, mode: str) -> None:
    img = _left_red().convert("L" if mode in ("I;16", "F") else "RGB")
    if mode == "I;16":
        img = Image.fromarray((np.asarray(img, np.uint16) * 257).astype(np.uint16))
        assert img.mode.startswith("I;16")
    elif mode == "F":
        img = Image.fromarray(np.asarray(img, np.float32) / 255)
    else:
        img = img.convert(mode)
    suffix = ".jpg" if mode == "CMYK" else ".tif" if mode in ("I;16", "F") else ".png"
    path = tmp_path / f"photo{suffix}"
    img.save(path)
    out = load_photo(path, 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    left, right = out[:, :10, 0].mean(), out[:, -10:, 0].mean()
    assert left - right > 20, (mode, left, right)  # the red half (brighter in gray) stays the redder one
    t = to_tensor(out)
    assert t.shape == (1, 3, 32, 32) and -1 <= t.min() and t.max() <= 1


def test_transparency_goes_over_the_background(tmp_path: Path) -> None:
    a = np.zeros((20, 20, 4), np.uint8)
    a[..., 0] = 255  # red, fully transparent
    Image.fromarray(a, "RGBA").save(tmp_path / "t.png")
    assert (load_photo(tmp_path / "t.png", 8) == 255).all()  # white background shows
    assert (load_photo(tmp_path / "t.png", 8, background=(0, 0, 0)) == 0).all()


def test_crop_or_pad_a_wide_photo(tmp_path: Path) -> None:
    _left_red(80, 40).save(tmp_path / "wide.png")
    crop = load_photo(tmp_path / "wide.png", 40, fit="crop")
    pad = load_photo(tmp_path / "wide.png", 40, fit="pad")
    assert crop[0, 0].tolist() == [255, 0, 0] and crop[-1, -1].tolist() == [0, 0, 255]
    assert pad[0, 0].tolist() == [255, 255, 255], "padding is the background colour"
    assert pad[20, 2].tolist()[0] > 200 and pad[20, -3].tolist()[2] > 200
    with pytest.raises(PhotoError, match="fit"):
        load_photo(tmp_path / "wide.png", 40, fit="stretch")  # type: ignore[arg-type]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = _left_red(40, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was rotated: display the picture turned 90 degrees clockwise
    img.save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = load_photo(tmp_path / "r.jpg", 40)
    assert out[:10].mean(axis=(0, 1))[0] > 150 and out[-10:].mean(axis=(0, 1))[2] > 150  # red on top after turning


@pytest.mark.parametrize("content,message", [(None, "no photo"), (b"hello", "not an image"),
                                             ("truncated", "truncated or corrupt")])
def test_bad_files_get_one_line(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "x.png"
    if content == "truncated":
        _left_red().save(path)
        path.write_bytes(path.read_bytes()[:60])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(PhotoError, match=message) as err:
        load_photo(path, 32)
    assert "\n" not in str(err.value)
