"""Which synthesis layers carry a heatmap move, and how far does the content follow? The patch co-move ratio when
only some blocks see the moved heatmaps and the rest keep the original ones (`spatialgan-metrics comove
--move-at`), paired move by move against moving them everywhere, as the editor does; and, for the full move, the
ratio and the content's displacement by the length of the move. For hierarchical models also: how much dragging one
centre of each level (with its sub-tree, as the editor does) changes the picture near it.

    python bench/comove_by_layer.py checkpoints/rooms64.safetensors checkpoints/pets64.safetensors --num 600

Each model is measured with every single block, and with the coarse and the fine blocks as groups. Writes
bench/results/comove_by_layer.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from spatialgan import load_checkpoint
from spatialgan.errors import SpatialGANError
from spatialgan.fused import fuse
from spatialgan.generator import Generator
from spatialgan.metrics.comove import CoMoveConfig, co_move_ratio, draw_moves
from spatialgan.metrics.levels import level_drags
from spatialgan.metrics.report import command_line, header, machine, write

ROOT = Path(__file__).resolve().parents[1]
BATCH = 16  # co_move_ratio's batch: `by_length` re-draws its moves in the same order
sys.path.insert(0, str(Path(__file__).resolve().parent))
from comove_paired import paired  # noqa: E402  (a sibling script)


def subsets(resolutions: list[int]) -> list[list[int]]:
    """Each block alone, then growing groups from the coarsest and from the finest (the full set is the
    reference and is left out)."""
    out = [[r] for r in resolutions]
    out += [resolutions[:k] for k in range(2, len(resolutions))]
    out += [resolutions[k:] for k in range(1, len(resolutions) - 1)]
    return out


def by_length(G: Generator, per_move: list[float | None], seed: int, batch: int, cfg: CoMoveConfig,
              edges: tuple[float, ...] = (0.0, 0.08, 0.11, 0.14, 0.17, 0.2)) -> list[dict]:
    """The co-move ratio and the content's displacement along the move, (p . q) / |p| in image units, per bin of
    move length |p| (under 0.08 where the image margin shortened a move); the moves are re-drawn with
    co_move_ratio's seed and batch, so they are the measured ones."""
    gen, lengths = torch.Generator().manual_seed(seed), []
    for s in range(0, len(per_move), batch):
        _, _, _, before, target = draw_moves(G, min(batch, len(per_move) - s), gen, cfg)
        lengths += (target - before).norm(dim=1).tolist()
    length = np.asarray(lengths)
    ratio = np.array([np.nan if r is None else r for r in per_move])
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = ~np.isnan(ratio) & (length >= lo) & (length < hi if hi < edges[-1] else length <= hi)
        if sel.any():
            rows.append({"from": lo, "to": hi, "moves": int(sel.sum()), "ratio": float(ratio[sel].mean()),
                         "followed": float((ratio[sel] * length[sel]).mean())})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--num", type=int, default=600, help="moves per measurement (default 600)")
    ap.add_argument("--seed", type=int, default=1, help="move draws (default 1: not the tables' seed 0)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "comove_by_layer.md")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    cfg = CoMoveConfig()
    models = []
    for path in args.checkpoints:
        try:
            G = fuse(load_checkpoint(path, torch.device("cpu")).generator.float())
            resolutions = list(G.heatmap_resolutions)
            full = co_move_ratio(G, None, args.num, seed=args.seed, batch=BATCH, cfg=cfg,
                                 progress=False).to_dict(per_move=True)
            rows = []
            for sub in subsets(resolutions):
                r = co_move_ratio(G, None, args.num, seed=args.seed, batch=BATCH, cfg=cfg, progress=False,
                                 move_at=sub)
                d = r.to_dict(per_move=True)
                rows.append({"move_at": sub, "ratio": d["ratio"], "median": d["median"],
                             "measured": d["measured"], "paired": paired(full, d)})
                print(json.dumps({"checkpoint": str(path), **rows[-1]}))
            lengths = by_length(G, full["per_move"], args.seed, BATCH, cfg)
            levels = level_drags(G) if G.config.heatmap.mode == "hierarchical" else []
        except (SpatialGANError, OSError) as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            return 2
        models.append({"checkpoint": str(path), "image_px": G.config.resolution, "resolutions": resolutions,
                       "all": {k: full[k] for k in ("ratio", "median", "measured")}, "rows": rows,
                       "by_length": lengths, "level_drags": levels})
    mach = machine()
    lines = header("Which synthesis layers carry a heatmap move, and how far the content follows", mach) + [
        f"Patch co-move (`spatialgan-metrics comove --move-at`) on {args.num} moves of seed {args.seed} (a random "
        f"object, or the root with its sub-tree, moved by {cfg.min_shift}-{cfg.max_shift} of the image). Only the "
        "blocks named see the moved heatmaps; the others keep the original ones. The last column is the paired "
        "difference to moving them at every block (standard error).", ""]
    for m in models:
        lines += [f"## {Path(m['checkpoint']).name} (heatmaps at {', '.join(map(str, m['resolutions']))} px)", "",
                  "| moved at | co-move | median | tracked | against all blocks |", "|---|---|---|---|---|",
                  f"| all blocks | {m['all']['ratio']:.3f} | {m['all']['median']:.3f} | {m['all']['measured']} | - |"]
        for r in m["rows"]:
            p = r["paired"]
            lines.append(f"| {', '.join(map(str, r['move_at']))} | {r['ratio']:.3f} | {r['median']:.3f} | "
                         f"{r['measured']} | {p['diff']:+.3f} ± {p['diff_se']:.3f} |")
        lines += ["", f"By move length, all blocks moved (`followed`: the content's mean displacement along the "
                  f"move, in image widths; one pixel is {1 / m['image_px']:.3f}):", "",
                  "| move length | moves | co-move | followed |", "|---|---|---|---|"]
        lines += [f"| {b['from']:.2f}-{b['to']:.2f} | {b['moves']} | {b['ratio']:.3f} | {b['followed']:.3f} |"
                  for b in m["by_length"]]
        if m["level_drags"]:
            lines += ["", "Dragging one centre of each level by 0.15 of the image, with its sub-tree, as the editor "
                      "does (40 images, psi 0.7): mean |pixel change| within 0.15 of its old or new place, and for "
                      "scale what a different latent changes there:", "",
                      "| level | drags | change near the drag | different latent |", "|---|---|---|---|"]
            lines += [f"| {d['level']} ({d['resolution']} px) | {d['drags']} | {d['near_change']:.3f} | "
                      f"{d['other_latent']:.3f} |" for d in m["level_drags"]]
        lines.append("")
    write(args.out, "\n".join(lines), {"command": command_line(), "machine": mach, "seed": args.seed,
                                       "num": args.num, "models": models})
    return 0


if __name__ == "__main__":
    sys.exit(main())
