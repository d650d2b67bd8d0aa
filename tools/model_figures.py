"""Figures and model card for a shipped checkpoint: a sample grid, a before/after strip of moving one heatmap
centre by a quarter of the image (and removing it), and a markdown card next to the checkpoint. A model without
heatmaps (a plain baseline) gets the object tool's strip instead: the object under the middle of its object
clusters selected, moved by a quarter of the image, and removed.

    python tools/model_figures.py checkpoints/rooms128.safetensors --run runs/rooms128
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from spatialgan import HeatmapSpec, load_checkpoint
from spatialgan.carry import homes_tensor
from spatialgan.render import render as render_model
from spatialgan.visual import draw_centres, grid, to_uint8, upscale


def render(G, ws: torch.Tensor, spec: HeatmapSpec, homes: list | None = None) -> np.ndarray:
    """The picture of `spec`; with `homes`, moved objects keep the look they have there, as the editor draws them."""
    return to_uint8(render_model(G, ws, spec.to_batch(), homes=homes_tensor(spec, homes, "cpu")).image)


@torch.inference_mode()
def move_strip(G, seeds: list[int], psi: float, scale: int) -> tuple[np.ndarray, list[dict]]:
    """Per seed: original | centre moved by +0.25 (or -0.25, whichever stays inside), redrawn by the model (the
    paper's way) | the same move carried (`spatialgan.carry`, the editor's default) | that object removed.
    The moved centre is object 0 (multi) or the level-0 root (hierarchical)."""
    tiles, moves = [], []
    for seed in seeds:
        spec = HeatmapSpec.from_batch(G.sample_layouts(1, seed=seed))
        homes = spec.object_places()
        ws = G.mapping(G.sample_z(1, seed=seed), psi=psi)
        x, y = spec.absolute(0, 0)
        dx = 0.25 if x < 0.5 else -0.25
        before = render(G, ws, spec)
        moved = spec.copy()
        moved.move_by(0, 0, dx, 0.0)
        after = render(G, ws, moved)
        carried = render(G, ws, moved, homes)
        removed = spec.copy()
        removed.set_enabled(0, 0, False)  # the object: object 0, or the root with its sub-tree
        gone = render(G, ws, removed)
        tiles += [draw_centres(upscale(before, scale), spec, scale), draw_centres(upscale(after, scale), moved, scale),
                  draw_centres(upscale(carried, scale), moved, scale), upscale(gone, scale)]
        moves.append({"seed": seed, "from": [round(x, 3), round(y, 3)], "dx": dx})
    return grid(tiles, columns=4), moves


@torch.inference_mode()
def object_strip(G, seeds: list[int], psi: float, scale: int) -> tuple[np.ndarray, list[dict]]:
    """Per seed: original | the object one click selects, outlined | moved by a quarter of the image by its
    features (`spatialgan.objects`) | removed. The click: the object pixel nearest the middle of the picture's
    object clusters."""
    from app.ui.geometry import outline_region
    from draggan.objects import picture_selection
    from spatialgan.objects import ObjectEdit, cached_clusters

    clusters = cached_clusters(G)[0]
    tiles, moves = [], []
    for seed in seeds:
        ws = G.mapping(G.sample_z(1, seed=seed), psi=psi)
        empty = picture_selection(G, clusters, ws, None)
        x, y = empty.middle_of_objects() or (0.5, 0.5)
        sel = empty.object_at(x, y)
        dx = 0.25 if x < 0.5 else -0.25
        before = to_uint8(render_model(G, ws).image)
        moved, gone = (to_uint8(render_model(G, ws, edits=[ObjectEdit.from_selection(sel.mask, shift)]).image)
                       for shift in ((dx, 0.0), None))
        tiles += [upscale(t, scale) for t in (before, outline_region(before, sel.mask), moved, gone)]
        moves.append({"seed": seed, "from": [round(float(x), 3), round(float(y), 3)], "dx": dx})
    return grid(tiles, columns=4), moves


@torch.inference_mode()
def sample_grid(G, seeds: list[int], psi: float, scale: int) -> np.ndarray:
    tiles = []
    for seed in seeds:
        spec = HeatmapSpec.from_batch(G.sample_layouts(1, seed=seed))
        tiles.append(upscale(render(G, G.mapping(G.sample_z(1, seed=seed), psi=psi), spec), scale))
    return grid(tiles, columns=8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--run", type=Path, help="the training run folder (for the command and log)")
    ap.add_argument("--assets", type=Path, default=Path("assets"))
    ap.add_argument("--psi", type=float, default=0.7)
    ap.add_argument("--reference", type=Path, help="the float32 model to compare a float16 export against")
    ap.add_argument("--machine", default=f"{platform.processor() or platform.machine()} host",
                    help="where it was trained, in words, for the card")
    ap.add_argument("--figures-only", action="store_true",
                    help="remake the two figures and leave the card as it is (its run folder may be gone)")
    args = ap.parse_args()
    ck = load_checkpoint(args.checkpoint)
    G, name, cfg = ck.generator, args.checkpoint.stem, ck.info.generator
    scale = max(1, 128 // cfg.resolution)
    grid_path = args.assets / f"{name}-samples.png"
    strip_path = args.assets / f"{name}-move.png"
    Image.fromarray(sample_grid(G, list(range(32)), args.psi, scale)).save(grid_path)
    plain = not G.heatmap_resolutions
    strip, moves = (object_strip if plain else move_strip)(G, [0, 1, 2, 3], args.psi, scale)
    Image.fromarray(strip).save(strip_path)
    if args.figures_only:
        print(f"wrote {grid_path}, {strip_path}")
        return 0
    meta = ck.info.meta
    half_note = ("- Half precision check: not run for this file (its float32 weights were not kept); "
                 "tests/test_checkpoint.py checks float16 against float32 rendering on random models.\n"
                 if ck.info.dtype == "float16" else "")
    if args.reference is not None:
        ref = load_checkpoint(args.reference).generator
        diffs = []
        with torch.inference_mode():
            for seed in range(16):
                layout = G.sample_layouts(1, seed=seed)
                a, b = (render_model(m, m.mapping(m.sample_z(1, seed=seed), psi=args.psi), layout).image
                        for m in (G, ref))
                diffs.append(((a - b).abs().max().item(), (a - b).abs().mean().item()))
        worst, mean = max(d[0] for d in diffs), sum(d[1] for d in diffs) / len(diffs)
        half_note = (f"- Half precision check: against the float32 weights over 16 seeds, pixel values in [-1, 1] differ "
                     f"by at most {worst:.4f} (mean {mean:.5f}), i.e. at most {worst * 127.5:.1f} of 255 levels.\n")
    command = (args.run / "command.txt").read_text().strip() if args.run and (args.run / "command.txt").exists() else "?"
    last = {}
    if args.run and (args.run / "log.jsonl").exists():
        last = json.loads((args.run / "log.jsonl").read_text().splitlines()[-1])
    heat = ("no heatmaps (the plain baseline)" if plain
            else f"multi-object, {cfg.heatmap.num_objects} objects" if cfg.heatmap.mode == "multi"
            else f"hierarchical, centres {list(cfg.heatmap.centres_per_level)} at {list(cfg.heatmap.levels)}")
    strip_text = ("""Moving an object with the object tool (columns: original; the object one click selects, outlined; moved by a
quarter of the image by its features; removed):""" if plain else """Moving one centre by a quarter of the image, then removing it (columns: original; moved, redrawn by the model;
moved with the object's look carried along, as the editor does by default; removed):""")
    card = f"""# {name}

- Architecture: {cfg.resolution} px StyleGAN2, encoding `{cfg.encoding}`, {heat}; w_dim {cfg.w_dim},
  channel_base {cfg.channel_base}, channel_max {cfg.channel_max}; weights {ck.info.dtype} (EMA generator only).
- Data: procedural `{meta.get('data')}` (made by `spatialgan-dataset`, see assets/sprites/LICENSE.txt).
- Training: {meta.get('kimg')} kimg ({meta.get('steps')} steps of batch {meta.get('batch')}), alignment loss
  {'on' if meta.get('align') else 'off'}, seed {meta.get('seed')}, {meta.get('train_seconds')} s of training on
  {meta.get('device')} x{meta.get('processes')} ({args.machine}).
- Command: `{command}`
{half_note}- Last logged losses: G {last.get('loss_g', '?')}, align {last.get('loss_align', '?')}, D {last.get('loss_d', '?')}.

Samples (seeds 0-31, psi {args.psi}): ![samples](../{grid_path.as_posix()})

{strip_text}
![move](../{strip_path.as_posix()})
"""
    card_path = args.checkpoint.with_suffix(".md")
    card_path.write_text(card)
    print(f"wrote {grid_path}, {strip_path}, {card_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
