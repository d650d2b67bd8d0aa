"""The README's "Edit your own photo" strip, made through the user's path: a picture the project drew (the
procedural data at a dataset seed no bundled model trained on, saved at 256 px like a photo) goes through
`spatialgan-invert`; the session it writes is read back as the editor reads it and edited: the object's centre
moved, then the object removed.

    python tools/photo_figures.py                    # pets64 and rooms64 -> assets/photo-edit.png

The pictures are the first of that seed, not picked for the result.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from app.state import read_session  # noqa: E402
from editor_figures import strip, tile  # noqa: E402
from model_figures import render  # noqa: E402
from spatialgan import load_checkpoint, load_generator  # noqa: E402
from spatialgan.cli.invert import main as invert_main  # noqa: E402
from spatialgan.data.procedural import PetsDataset, RoomsDataset  # noqa: E402
from spatialgan.visual import draw_centres, upscale  # noqa: E402

HELD_OUT = 7919  # the bundled models trained on dataset seed 0
MOVE = 0.25  # image units the object's centre moves, towards the middle


def row(model: Path, data, folder: Path, scale: int) -> list[Image.Image]:
    """photo | its inversion | the object's centre moved | the object removed, each a labelled tile."""
    photo = folder / f"{model.stem}-photo.png"
    Image.fromarray(data.sample(0).image).save(photo)
    out = folder / model.stem
    if invert_main([str(photo), "--model", str(model), "--out", str(out)]) != 0:
        raise SystemExit(f"spatialgan-invert failed on {photo}")
    G, _ = load_generator(str(model), None, "cpu")
    tuned_path, edit = read_session(out / "session.json", G.config.resolution, G.config.num_codes)
    tuned = load_checkpoint(tuned_path).generator.eval()
    assert edit.spec is not None and edit.ws_override is not None
    ws, spec = torch.from_numpy(edit.ws_override), edit.spec
    homes = spec.object_places()
    x, _ = homes[0]
    side = "right" if x < 0.5 else "left"
    moved = spec.copy()
    moved.move_by(0, 0, MOVE if x < 0.5 else -MOVE, 0.0)
    removed = spec.copy()
    removed.set_enabled(0, 0, False)  # the object: the root with its tree, or object 0

    def picture(s, marks: bool = True) -> np.ndarray:  # drawn as the editor does: moved objects keep their look
        with torch.no_grad():
            image = upscale(render(tuned, ws, s, homes), scale)
        return draw_centres(image, s, scale) if marks else image

    return [tile(np.asarray(Image.open(photo).convert("RGB")), 1, f"{model.stem}: the photo",
                 "held-out, never trained on"),
            tile(picture(spec), 1, "inverted", "latent, centres, tuned weights"),
            tile(picture(moved), 1, "centre moved", f"{MOVE} of the width to the {side}"),
            tile(picture(removed, marks=False), 1, "object removed", "its centres off")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "assets" / "photo-edit.png")
    ap.add_argument("--scale", type=int, default=4)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in (("pets64", PetsDataset(256, seed=HELD_OUT)), ("rooms64", RoomsDataset(256, seed=HELD_OUT))):
            rows.append(strip(row(REPO / "checkpoints" / f"{name}.safetensors", data, Path(tmp), args.scale)))
    out = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), (24, 24, 24))
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out.save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
