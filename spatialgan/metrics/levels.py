"""How much does dragging one centre of each heatmap level change the picture? (hierarchical models)

The editor drags a centre together with its sub-tree; a level whose centres the model ignores (pets64's finest
level changes the picture by about 1% of what its root does) is worth telling the user about.
"""

from __future__ import annotations

import math

import torch

from ..generator import Generator
from ..heatmaps import HeatmapSpec
from ..render import render


@torch.no_grad()
def level_drags(G: Generator, seeds: int = 40, shift: float = 0.15, near: float = 0.15,
                compare_latent: bool = True) -> list[dict]:
    """Per heatmap level of a hierarchical model: drag a random centre of that level (its sub-tree follows) by
    `shift` in a random direction, as the editor does, and take the mean |pixel change| (pixels in [-1, 1])
    within `near` of its old or new place; with `compare_latent`, for scale, also the change a different latent
    makes there. Seed s draws image s. A child centre may lie off the picture; a drag with no pixel within `near`
    of either place is skipped, and 'drags' counts the measured ones (a level with none gets NaN)."""
    caps = G.capabilities
    res = caps.resolution
    device = next(G.parameters()).device
    u = (torch.arange(res, device=device) + 0.5) / res
    yy, xx = torch.meshgrid(u, u, indexing="ij")
    gen = torch.Generator().manual_seed(0)
    sums: dict[int, list[float]] = {li: [] for li in range(len(caps.panels))}

    def picture(ws: torch.Tensor, spec: HeatmapSpec) -> torch.Tensor:
        return render(G, ws, spec.to_batch(device)).image.float().clamp(-1, 1)[0]

    for seed in range(seeds):
        spec = HeatmapSpec.from_batch(G.sample_layouts(1, seed=seed))
        ws = G.seed_ws(seed, psi=0.7).to(device)
        img0 = picture(ws, spec)
        other = None
        if compare_latent:
            ws_other = G.seed_ws(seed + 10_000, psi=0.7).to(device)
            other = (picture(ws_other, spec) - img0).abs().mean(0)
        for li, level in enumerate(spec.levels):
            ci = int(torch.randint(len(level), (1,), generator=gen))
            x, y = spec.absolute(li, ci)
            a = float(torch.rand((), generator=gen)) * 2 * math.pi
            dx, dy = shift * math.cos(a), shift * math.sin(a)
            if not (0.05 < x + dx < 0.95 and 0.05 < y + dy < 0.95):
                dx, dy = -dx, -dy  # keep the dragged centre inside the image
            moved = spec.copy()
            moved.move_by(li, ci, dx, dy)
            change = (picture(ws, moved) - img0).abs().mean(0)
            mask = (torch.hypot(xx - x, yy - y) < near) | (torch.hypot(xx - x - dx, yy - y - dy) < near)
            if not mask.any():  # nothing of it on the picture: the mean of no pixels would be NaN
                continue
            sums[li].extend([float(change[mask].mean()), float(other[mask].mean()) if other is not None else math.nan])
    return [{"level": li, "resolution": caps.panels[li].resolution, "drags": len(v) // 2,
             "near_change": sum(v[0::2]) / (len(v) // 2) if v else math.nan,
             "other_latent": sum(v[1::2]) / (len(v) // 2) if v else math.nan} for li, v in sums.items()]


def inert_levels(G: Generator, seeds: int = 4, ratio: float = 0.1) -> tuple[bool, ...]:
    """Which levels of a hierarchical model barely respond to a drag: those whose `level_drags` change is below
    `ratio` of the most responsive level's (a level none of whose drags could be measured is not marked). Empty for
    multi-object models (one heatmap, every centre an object)."""
    if not G.capabilities.has_levels:
        return ()
    changes = [d["near_change"] for d in level_drags(G, seeds=seeds, compare_latent=False)]
    top = max((c for c in changes if not math.isnan(c)), default=math.nan)
    return tuple(c < ratio * top for c in changes)  # False for NaN
