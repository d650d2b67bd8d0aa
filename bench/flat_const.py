"""Does the 4x4 block's learned input hold objects in place? For each model, the co-move measure's random moves
(`spatialgan-metrics comove`, patch tracking) with the model as trained and again with its learned 4x4 input
replaced by its mean over the 16 positions (`--const-input flat`'s starting point, no training), paired move by
move; and how much that replacement alone changes the pictures, against a different latent.

    python bench/flat_const.py checkpoints/rooms64.safetensors checkpoints/pets64.safetensors --num 1200 --seed 2

A learned input gives every position its own features, so a centre moved to a new place meets other features
there; if that is what redraws the object, the flat input should let more of it follow. Writes
bench/results/flat_const/zero_shot.{md,json}, and a strip per model beside them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from spatialgan import load_checkpoint
from spatialgan.errors import SpatialGANError
from spatialgan.fused import fuse
from spatialgan.generator import Generator
from spatialgan.metrics.comove import co_move_ratio
from spatialgan.metrics.report import command_line, header, machine, write
from spatialgan.render import render
from spatialgan.visual import grid, to_uint8, upscale

ROOT = Path(__file__).resolve().parents[1]


@torch.no_grad()
def picture_change(G: Generator, flat: torch.Tensor, num: int = 64, seed: int = 0
                   ) -> tuple[float, float, np.ndarray]:
    """Mean |image with the flat input - image as trained| over `num` draws, and the same for a different latent
    (the scale of "a different picture"); pixels in [-1, 1], constant noise. Also a strip of the first 6 draws:
    as trained above, flattened below."""
    z = G.sample_z(2 * num, seed=seed)
    layout = G.sample_layouts(num, seed=seed)
    const = G.synthesis.blocks[0].const
    ws = G.mapping(z, psi=0.7)
    img = render(G, ws[:num], layout).image
    other = render(G, ws[num:], layout).image
    learned = const.detach().clone()
    const.copy_(flat)
    img_flat = render(G, ws[:num], layout).image
    const.copy_(learned)
    strip = grid([to_uint8(x) for x in (*img[:6], *img_flat[:6])], columns=6)
    return float((img_flat - img).abs().mean()), float((other - img).abs().mean()), strip


def measure(G: Generator, num: int, seed: int) -> dict:
    const = G.synthesis.blocks[0].const
    if const.shape[-1] != 4:
        raise SpatialGANError("this model's input is flat already")
    flat = const.detach().mean((2, 3), keepdim=True).expand_as(const)
    a = co_move_ratio(G, None, num=num, seed=seed, progress=False)
    with torch.no_grad():
        learned = const.detach().clone()
        const.copy_(flat)
        b = co_move_ratio(G, None, num=num, seed=seed, progress=False)
        const.copy_(learned)
    d = np.array([y - x for x, y in zip(a.per_move, b.per_move) if x is not None and y is not None])
    change, other, strip = picture_change(G, flat, seed=seed)
    return {"strip": strip, "moves": len(d), "comove_learned": a.ratio, "comove_flat": b.ratio, "diff": float(d.mean()),
            "diff_se": float(d.std(ddof=1) / math.sqrt(len(d))), "picture_change": change,
            "picture_change_other_latent": other}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--num", type=int, default=1200, help="moves per model (default 1200)")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "flat_const" / "zero_shot.md")
    args = ap.parse_args(argv)
    rows = []
    for path in args.checkpoints:
        try:
            G = fuse(load_checkpoint(path, torch.device("cpu")).generator.float())
            r = measure(G, args.num, args.seed)
        except (SpatialGANError, OSError) as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            return 2
        r["checkpoint"] = str(path)
        strip = args.out.parent / f"flat_const_{path.stem}.png"
        Image.fromarray(upscale(r.pop("strip"), 2)).save(strip)
        r["strip"] = strip.name
        rows.append(r)
        print(json.dumps(r))
    lines = header("The learned 4x4 input, flattened without training", machine()) + [
        f"Patch co-move over the same {args.num} random moves (seed {args.seed}) with each model as trained and with "
        "its learned 4x4 input replaced by its mean over the 16 positions; the difference is paired move by move "
        "(± one standard error). 'Picture change' is the mean |change| of pixels in [-1, 1] that the replacement "
        "alone makes (64 images, constant noise), against the change a different latent makes; each model's strip "
        "(`flat_const_NAME.png`) shows six of them as trained (top) and flattened (bottom).",
        "", "| model | moves | co-move, learned input | flat input | paired difference | picture change "
        "| other latent |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {Path(r['checkpoint']).name} | {r['moves']} | {r['comove_learned']:.3f} "
                     f"| {r['comove_flat']:.3f} | {r['diff']:+.3f} ± {r['diff_se']:.3f} | {r['picture_change']:.3f} "
                     f"| {r['picture_change_other_latent']:.3f} |")
    write(args.out, "\n".join(lines) + "\n", {"command": command_line(), "machine": machine(), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
