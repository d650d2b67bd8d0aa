"""Render the emoji sprites in assets/sprites/ from Debian's fonts-noto-color-emoji (run once; output is committed).

    apt-get install -y fonts-noto-color-emoji && python3 tools/render_sprites.py
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
FONT_SIZE = 109  # CBDT bitmap fonts only load at their one strike size
MAX_SIDE = 96
OUT = Path(__file__).resolve().parents[1] / "assets" / "sprites"

# class -> {file name: emoji}. Variation selector U+FE0F asks for the colour presentation.
SPRITES: dict[str, dict[str, str]] = {
    "bed": {"bed": "\U0001F6CF\uFE0F"},
    # couch and lamp are cut from the one couch-and-lamp emoji (U+1F6CB), see split_couch_and_lamp

    "chair": {"chair": "\U0001FA91"},
    "window": {"window": "\U0001FA9F"},
    "picture": {"framed_picture": "\U0001F5BC\uFE0F"},
    "plant": {"potted_plant": "\U0001FAB4", "cactus": "\U0001F335"},
    "door": {"door": "\U0001F6AA"},
    "mirror": {"mirror": "\U0001FA9E"},
    "clock": {"mantelpiece_clock": "\U0001F570\uFE0F", "alarm_clock": "\u23F0"},
    "cat": {"cat_face": "\U0001F431", "grinning_cat": "\U0001F63A", "grinning_cat_smiling_eyes": "\U0001F638",
            "cat": "\U0001F408", "black_cat": "\U0001F408\u200D\u2B1B", "heart_eyes_cat": "\U0001F63B"},
    "dog": {"dog_face": "\U0001F436", "dog": "\U0001F415", "guide_dog": "\U0001F9AE", "poodle": "\U0001F429"},
    "rabbit": {"rabbit_face": "\U0001F430", "rabbit": "\U0001F407"},
    "fox": {"fox": "\U0001F98A"},
    "hamster": {"hamster": "\U0001F439"},
    "house": {"house": "\U0001F3E0", "house_with_garden": "\U0001F3E1", "houses": "\U0001F3D8\uFE0F"},
    "church": {"church": "\u26EA", "classical_building": "\U0001F3DB\uFE0F"},
}


def render(font: ImageFont.FreeTypeFont, text: str) -> Image.Image:
    """One emoji, RGBA on transparent, trimmed to its bounding box and shrunk to MAX_SIDE."""
    canvas = Image.new("RGBA", (FONT_SIZE * 3, FONT_SIZE * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((FONT_SIZE // 2, FONT_SIZE // 4), text, font=font, embedded_color=True)
    if canvas.getchannel("A").getbbox() is None:
        raise RuntimeError(f"the font drew nothing for {text!r}")
    return trim(canvas)


COUCH = "\U0001F6CB\uFE0F"
COUCH_TOP = 60  # first glyph row (drawn at the origin) below the lamp shade that belongs to the couch's back
LAMP_COLUMNS = (80, 124)


def glyph(font: ImageFont.FreeTypeFont, text: str) -> Image.Image:
    canvas = Image.new("RGBA", (FONT_SIZE + 32, FONT_SIZE + 32), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, 0), text, font=font, embedded_color=True)
    return canvas


def trim(img: Image.Image) -> Image.Image:
    box = img.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    assert box is not None
    img = img.crop(box)
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
    return img


def split_couch_and_lamp(font: ImageFont.FreeTypeFont) -> tuple[Image.Image, Image.Image]:
    """The couch emoji shows a floor lamp behind a sofa; rooms want them as two objects.

    The lamp's pole disappears behind the sofa, so the pole's last row is repeated downwards and a
    small foot added to make a free-standing floor lamp.
    """
    g = glyph(font, COUCH)
    couch = g.copy()
    couch.paste((0, 0, 0, 0), (0, 0, g.width, COUCH_TOP))
    x0, x1 = LAMP_COLUMNS
    top = g.crop((x0, 0, x1, COUCH_TOP))
    pole_row = top.crop((0, COUCH_TOP - 2, x1 - x0, COUCH_TOP - 1))
    cols = [x for x in range(x1 - x0) if pole_row.getpixel((x, 0))[3] > 128]
    # below the shade only the pole belongs to the lamp; the sofa's back reaches in at the sides
    shade_bottom = 40
    top.paste((0, 0, 0, 0), (0, shade_bottom, cols[0], COUCH_TOP))
    top.paste((0, 0, 0, 0), (cols[-1] + 1, shade_bottom, x1 - x0, COUCH_TOP))
    extra = 44
    lamp = Image.new("RGBA", (x1 - x0, COUCH_TOP + extra), (0, 0, 0, 0))
    lamp.paste(top, (0, 0))
    lamp.paste(pole_row.resize((x1 - x0, extra)), (0, COUCH_TOP))
    cx = (cols[0] + cols[-1]) / 2
    colour = pole_row.getpixel((int(cx), 0))[:3]
    dark = tuple(int(c * 0.7) for c in colour) + (255,)
    ImageDraw.Draw(lamp).ellipse((cx - 11, lamp.height - 6, cx + 11, lamp.height - 1), fill=dark)
    return trim(couch), trim(lamp)


def package_version() -> str:
    if shutil.which("dpkg-query") is None:
        return "unknown"
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "fonts-noto-color-emoji"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


LICENSE = """The PNG images in this folder are rendered from the Noto Color Emoji font (Google),
as shipped in Debian's fonts-noto-color-emoji package, version {version},
by tools/render_sprites.py (trimmed to their bounding box, at most {side} px on a side).
Changes: couch/couch.png and lamp/lamp.png are cut from the one couch-and-lamp emoji (U+1F6CB);
the lamp's pole, hidden behind the sofa there, is extended downwards and given a drawn foot.

Emoji images: Apache License, Version 2.0 (https://www.apache.org/licenses/LICENSE-2.0).
Font: SIL Open Font License, Version 1.1 (https://openfontlicense.org).
Source: https://github.com/googlefonts/noto-emoji
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--font", type=Path, default=FONT)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    font = ImageFont.truetype(str(args.font), FONT_SIZE)
    if args.out.exists():
        shutil.rmtree(args.out)
    total = 0
    for cls, items in SPRITES.items():
        (args.out / cls).mkdir(parents=True, exist_ok=True)
        for name, text in items.items():
            path = args.out / cls / f"{name}.png"
            render(font, text).save(path, optimize=True)
            total += path.stat().st_size
    couch, lamp = split_couch_and_lamp(font)
    for cls, img in (("couch", couch), ("lamp", lamp)):
        (args.out / cls).mkdir(parents=True, exist_ok=True)
        path = args.out / cls / f"{cls}.png"
        img.save(path, optimize=True)
        total += path.stat().st_size
    (args.out / "LICENSE.txt").write_text(LICENSE.format(version=package_version(), side=MAX_SIDE))
    print(f"wrote {sum(map(len, SPRITES.values())) + 2} sprites, {total / 1024:.0f} KiB, to {args.out}")


if __name__ == "__main__":
    main()
