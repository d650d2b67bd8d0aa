"""How local is a heatmap move? For the co-move measure's random moves (same draws, `spatialgan-metrics comove`),
the mean absolute pixel change near the moved centre (within `--near` of its old or new place) and far from it
(beyond `--far` of both), against the far change that a different latent makes with the same heatmaps.

    python bench/move_locality.py checkpoints/rooms64.safetensors checkpoints/rooms128.safetensors --num 200

A model whose moves stay local changes the far region little compared with the near one; the co-move ratio says
whether the content follows, this says whether the rest of the image stays. Writes
bench/results/move_locality.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from spatialgan import load_checkpoint
from spatialgan.carry import DEFAULT_RESOLUTION
from spatialgan.fused import fuse
from spatialgan.render import render
from spatialgan.errors import SpatialGANError
from spatialgan.generator import Generator
from spatialgan.heatmaps.moves import move_object, moved_level
from spatialgan.losses import move_consistency
from spatialgan.metrics.comove import CoMoveConfig, draw_moves
from spatialgan.metrics.report import command_line, header, machine, write

ROOT = Path(__file__).resolve().parents[1]


@torch.no_grad()
def move_locality(G: Generator, num: int = 200, seed: int = 0, batch: int = 16, near: float = 0.15,
                  far: float = 0.3, cfg: CoMoveConfig = CoMoveConfig(), carry: int | None = None) -> dict[str, float]:
    """Mean |after - before| (pixels in [-1, 1], averaged over channels) near and far from each move, and the far
    change of a different latent under the same heatmaps (the scale of "everything changed"). Also the carry
    error (`losses.move_consistency`, the move loss's first term): how far the moved object's window is from the
    original carried along, for the moved image and, as the do-nothing baseline, for the unmoved one. `carry`:
    render the moved image carrying the object's look after the block at this resolution (`spatialgan.carry`)."""
    if not G.heatmap_resolutions:
        raise SpatialGANError("move locality needs a generator with heatmaps")
    gen = torch.Generator().manual_seed(seed)  # the co-move measure's moves
    gen_other = torch.Generator().manual_seed(seed + 1)  # separate, so the moves stay the co-move measure's
    res = G.config.resolution
    yy, xx = torch.meshgrid((torch.arange(res) + 0.5) / res, (torch.arange(res) + 0.5) / res, indexing="ij")

    def picture(ws: torch.Tensor, h, home: torch.Tensor | None = None) -> torch.Tensor:
        homes = home if carry is not None else None
        return render(G, ws, h, homes=homes, carry_at=carry or DEFAULT_RESOLUTION).image.clamp(-1, 1)

    near_sum = far_sum = other_sum = carry_sum = still_sum = 0.0
    near_n = far_n = 0
    for s in range(0, num, batch):
        b = min(batch, num - s)
        z, hb, index, before, target = draw_moves(G, b, gen, cfg)
        z_other = torch.randn(G.z_shape(b), generator=gen_other)
        ws = G.map_z(z, psi=cfg.psi)
        img0 = picture(ws, hb)
        img1 = picture(ws, move_object(hb, index, target - before), moved_level(hb).centres)
        sigma = moved_level(hb).sigmas[torch.arange(b), index]
        carry_sum += float(move_consistency(img1, img0, before, target, sigma)[0].sum())
        still_sum += float(move_consistency(img0, img0, before, target, sigma)[0].sum())
        moved = (img1 - img0).abs().mean(1)  # (b, res, res)
        other = (picture(G.map_z(z_other, psi=cfg.psi), hb) - img0).abs().mean(1)
        # distance of every pixel to each move's old and new centre, (b, res, res)
        d_old = torch.hypot(xx - before[:, 0, None, None], yy - before[:, 1, None, None])
        d_new = torch.hypot(xx - target[:, 0, None, None], yy - target[:, 1, None, None])
        is_near = (d_old < near) | (d_new < near)
        is_far = (d_old > far) & (d_new > far)
        near_sum += float(moved[is_near].sum())
        far_sum += float(moved[is_far].sum())
        other_sum += float(other[is_far].sum())
        near_n += int(is_near.sum())
        far_n += int(is_far.sum())
    if far_n == 0:
        raise SpatialGANError(f"no pixel lies farther than {far} from the moves; lower --far")
    return {"moves": num, "near_change": near_sum / near_n, "far_change": far_sum / far_n,
            "far_change_other_latent": other_sum / far_n, "near": near, "far": far,
            "carry_error": carry_sum / num, "carry_error_unmoved": still_sum / num}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--num", type=int, default=200, help="moves per model (default 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--near", type=float, default=0.15, help="near: within this of the old or new place (image units)")
    ap.add_argument("--far", type=float, default=0.3, help="far: beyond this of both (image units)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "move_locality.md")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    rows = []
    for path in args.checkpoints:
        try:
            G = fuse(load_checkpoint(path, torch.device("cpu")).generator)
            r = move_locality(G, args.num, args.seed, near=args.near, far=args.far)
        except (SpatialGANError, OSError) as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            return 2
        r["checkpoint"] = str(path)
        rows.append(r)
        print(json.dumps(r))
    mach, cfg = machine(), CoMoveConfig()
    lines = header("Move locality: pixel change near and far from a moved heatmap centre", mach) + [
        f"The co-move measure's moves (seed {args.seed}: a random object, or the root with its sub-tree, moved by "
        f"{cfg.min_shift}-{cfg.max_shift} of the image). Mean |change| of pixels in [-1, 1], "
        f"averaged over channels: near = within {rows[0]['near']} of the centre's old or new place, far = beyond "
        f"{rows[0]['far']} of both. 'Other latent' is the far change of a different latent with the same heatmaps. "
        "Carry error: the mean |moved image - original shifted by the move| in the object's Gaussian window at its "
        "new place (the first term of `--move-weight`'s loss), against the same for the unmoved image: 1 means "
        "the window looks no more like the carried object than before the move, 0 a perfect carry.",
        "", "| model | moves | near change | far change | far / near | far change, other latent | carry error, "
        "moved / unmoved |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {Path(r['checkpoint']).name} | {r['moves']} | {r['near_change']:.3f} | {r['far_change']:.3f} "
                     f"| {r['far_change'] / r['near_change']:.2f} | {r['far_change_other_latent']:.3f} "
                     f"| {r['carry_error']:.3f} / {r['carry_error_unmoved']:.3f} |")
    write(args.out, "\n".join(lines) + "\n", {"command": command_line(), "machine": mach, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
