"""spatialgan-sample: render images for a list of seeds, with their heatmaps and centres, to a PNG grid."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..device import pick_device
from ..errors import SpatialGANError
from ..fused import fuse
from ..model import SteerableModel
from ..heatmaps import HeatmapSpec, combine
from ..render import render
from ..visual import draw_centres, grid, heatmap_to_uint8, to_uint8, upscale
from .common import PSI, add_class_arg, add_model_args, load_model, number, parsed, run_cli, seed_ws
from ..limits import MAX_SEED
from ..errors import clean_text
from ..files import check_output, read_text, write_atomic


def parse_seeds(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            a, b = int(lo), int(hi) if hi else int(lo)
            if not 0 <= a <= b <= MAX_SEED or b - a >= 256:
                raise ValueError
            seeds += list(range(a, b + 1))
    except ValueError:
        raise SpatialGANError(f"--seeds expects seeds in 0..{MAX_SEED} and ranges such as 0-7,12, got "
                              f"{clean_text(text, 60)!r}") from None
    if not seeds or len(seeds) > 256:
        raise SpatialGANError("--seeds must name between 1 and 256 seeds")
    return seeds


def render_row(G: SteerableModel, seed: int, psi: float, label: int | None, spec: HeatmapSpec | None,
               scale: int) -> list[np.ndarray]:
    """[image with centres] + the model's heatmap panels (one per level, or one for all objects) for one seed."""
    caps = G.capabilities
    device = next(G.parameters()).device
    ws = seed_ws(G, seed, psi, label, device)
    tiles: list[np.ndarray] = []
    if caps.has_heatmaps:
        spec = spec or G.default_layout(seed)
        assert spec is not None
        G.check_layout(spec)
    out = render(G, ws, spec.to_batch(device) if spec is not None else None)
    hm = out.heatmaps
    image = upscale(to_uint8(out.image), scale)
    if spec is not None and hm is not None:
        image = draw_centres(image, spec, radius=max(2, scale))
        tiles = [heatmap_to_uint8(combine(hm[p.resolution])[0, 0], image.shape[0]) for p in caps.panels]
    return [image, *tiles]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="spatialgan-sample", description=__doc__)
    add_model_args(ap)
    ap.add_argument("--seeds", default="0-7", help="seeds and ranges, e.g. 0-7,12 (default 0-7)")
    ap.add_argument("--psi", type=PSI, default=0.7, help="truncation psi (1 = none, default 0.7)")
    add_class_arg(ap)
    ap.add_argument("--heatmap", type=Path, help="a heatmap spec JSON to use for every seed (default: sampled)")
    ap.add_argument("--scale", type=number(1, 16, integer=True), default=2,
                    help="integer upscaling of each image (default 2)")
    ap.add_argument("--out", "-o", type=Path, default=Path("samples.png"), help="output PNG (default samples.png)")
    args = parsed(lambda: ap.parse_args(argv))
    if isinstance(args, int):
        return args

    def body() -> int:
        seeds = parse_seeds(args.seeds)  # check cheap arguments before loading a model
        check_output(args.out, (".png",), "--out")
        device = pick_device(args.device)
        spec = None
        if args.heatmap is not None:
            spec = HeatmapSpec.from_json(read_text(args.heatmap, "heatmap spec"))
        G, source = load_model(args, device)
        G = fuse(G)
        with torch.inference_mode():
            rows = [render_row(G, s, args.psi, args.label, spec.copy() if spec else None, max(1, args.scale))
                    for s in seeds]
        picture = grid([tile for row in rows for tile in row], columns=len(rows[0]))
        write_atomic(args.out, lambda t: Image.fromarray(picture).save(t, format="PNG"), (".png",), "--out")
        print(f"{len(seeds)} sample(s) from {source} -> {args.out}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    raise SystemExit(main())
