"""Co-move ratio (paper Table I): does the object under a heatmap centre follow it?

Move sub-heatmap centre i by a random vector p and regenerate with the same latent codes; find the object that
contained the centre by segmentation, match it in the new image by smallest feature distance, and take the
displacement q of its centroid. ratio = (p . q) / |p|^2, averaged; 1 is ideal, 0 means nothing moved.

Without a segmenter, q comes from tracking the image patch under the centre instead (`track_patch`): not the
paper's definition, but it needs no recognisable objects, so it also measures small-budget models whose images a
segmenter reads as all background.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..carry import DEFAULT_RESOLUTION
from ..errors import SpatialGANError
from ..generator import Generator
from ..heatmaps import HeatmapBatch
from ..heatmaps.moves import move_object, moved_level, random_moves
from ..objects.selection import component
from ..render import heatmap_inputs, render
from .segmentation import TinyUNet
from ..progress import bar_options


@dataclass(frozen=True)
class CoMoveConfig:
    min_shift: float = 0.08    # |p| ~ U(min_shift, max_shift) in image units: big enough to measure at 64 px
    max_shift: float = 0.2
    margin: float = 0.05       # keep moved centres this far inside the image
    min_area: int = 6          # segmenter pixels for a component to count as an object
    class_weight: float = 10.0  # matching: a different class costs as much as a large appearance change
    psi: float = 1.0
    patch: float = 0.08        # patch tracking: half-width in image units (the smallest object sigma)
    min_patch_std: float = 0.03  # patch tracking: flatter patches (in [-1, 1] units) cannot be tracked
    # single-object data: every object label is one class, so a pet the segmenter reads as part cat, part dog is
    # one pet, before and after the move (its labels may flip between the two pictures)
    one_class: bool = False


@dataclass(frozen=True)
class CoMoveResult:
    ratio: float               # mean of (p . q) / |p|^2 over measured moves
    ratio_std: float
    median: float
    measured: int              # moves whose centre lay on an object and whose object was found again
    attempted: int
    no_object: int             # centre fell on background before the move (patch tracking: on a flat patch)
    lost: int                  # no object left in the moved image to match
    method: str = "segment"    # "segment" (the paper's) or "patch" (patch tracking)
    # Every attempted move's ratio in draw order, None where unmeasured: two models measured with the same
    # seed see the same draws, so their ratios can be compared move by move (a paired test).
    per_move: tuple[float | None, ...] = field(default=(), repr=False)

    def to_dict(self, per_move: bool = False) -> dict:
        out = asdict(self)
        if not per_move:
            del out["per_move"]
        return out


def components(labels: np.ndarray, min_area: int) -> list[tuple[int, np.ndarray]]:
    """4-connected regions of equal non-zero label -> [(label, bool mask)], small specks dropped."""
    seen = np.zeros_like(labels, bool)
    out = []
    for y0, x0 in zip(*np.nonzero(labels)):
        if seen[y0, x0]:
            continue
        mask = component(labels, y0, x0)
        seen |= mask
        if mask.sum() >= min_area:
            out.append((int(labels[y0, x0]), mask))
    return out


def centroid(mask: np.ndarray) -> np.ndarray:
    """The centre of mass of `mask` (r, r) bool, as (x, y) image units."""
    ys, xs = np.nonzero(mask)
    r = mask.shape[0]
    return np.array([(xs.mean() + 0.5) / r, (ys.mean() + 0.5) / r])


def _descriptor(feats: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean segmenter feature and mean colour over the object: the stand-in for Mask R-CNN's RoI feature."""
    return np.concatenate([feats[:, mask].mean(1), image[:, mask].mean(1)])


def match_displacement(lab0: np.ndarray, f0: np.ndarray, img0: np.ndarray, lab1: np.ndarray, f1: np.ndarray,
                       img1: np.ndarray, centre: np.ndarray, cfg: CoMoveConfig = CoMoveConfig()) -> np.ndarray | str:
    """Displacement q (image units) of the object under `centre` (x, y) between two segmented images.

    labels (R, R), features (C, R, R), images (3, R, R). Returns "no_object" when the centre lies on background
    and "lost" when the second image has no object to match.
    """
    if cfg.one_class:
        lab0, lab1 = (lab0 > 0).astype(lab0.dtype), (lab1 > 0).astype(lab1.dtype)
    r = lab0.shape[0]
    cx, cy = (np.asarray(centre) * r).astype(int).clip(0, r - 1)
    label = lab0[cy, cx]
    if label == 0:
        return "no_object"
    src = next(m for lab, m in components(lab0, 1) if m[cy, cx])
    ref = _descriptor(f0, img0, src)
    cands = components(lab1, cfg.min_area)
    if not cands:
        return "lost"
    dists = [np.linalg.norm(_descriptor(f1, img1, m) - ref) + cfg.class_weight * (lab != label) for lab, m in cands]
    return centroid(cands[int(np.argmin(dists))][1]) - centroid(src)


def track_patch(img0: torch.Tensor, img1: torch.Tensor, centre: np.ndarray, search: float,
                cfg: CoMoveConfig = CoMoveConfig()) -> np.ndarray | str:
    """Displacement (image units) of the patch of img0 around `centre` (x, y) to its best match in img1 by the
    sum of squared differences, within `search` image units; images (3, R, R). Returns "flat" when the patch has
    no texture to track. Ties go to the smaller displacement, so a patch that did not move reads as 0."""
    r = img0.shape[-1]
    half = max(1, round(cfg.patch * r))
    cx, cy = (np.clip(np.asarray(centre) * r, half, r - 1 - half)).astype(int)
    patch = img0[:, cy - half:cy + half + 1, cx - half:cx + half + 1]
    if float(patch.std()) < cfg.min_patch_std:
        return "flat"
    # SSD at every position at once: sum(I1^2) over the window - 2 corr(I1, P) + sum(P^2).
    ones = torch.ones(1, 3, *patch.shape[1:], dtype=img0.dtype, device=img0.device)
    ssd = (torch.nn.functional.conv2d(img1[None] ** 2, ones) - 2 * torch.nn.functional.conv2d(img1[None], patch[None])
           + patch.square().sum())[0, 0]  # (R - 2 half, R - 2 half), index = window centre - half
    ys, xs = torch.meshgrid(torch.arange(ssd.shape[0]), torch.arange(ssd.shape[1]), indexing="ij")
    dy, dx = (ys + half - cy).to(ssd), (xs + half - cx).to(ssd)
    s = max(1, int(np.ceil(search * r)))
    ssd = torch.where((dy.abs() <= s) & (dx.abs() <= s), ssd, torch.full_like(ssd, float("inf")))
    ssd = ssd + 1e-6 * (dx.square() + dy.square())
    k = int(ssd.argmin())
    return np.array([float(dx.flatten()[k]), float(dy.flatten()[k])]) / r


def draw_moves(G: Generator, b: int, gen: torch.Generator, cfg: CoMoveConfig
               ) -> tuple[torch.Tensor, HeatmapBatch, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One batch of the measure's random moves, drawn from `gen` in a fixed order: latents z, heatmaps, the moved
    object's index (a random sub-heatmap in multi mode, the root in hierarchical mode, see `move_object`), and its
    centre before and after (see `random_moves`)."""
    z = torch.randn(G.z_shape(b), generator=gen)
    hb = G.sample_layouts(b, seed=gen)
    return (z, hb, *random_moves(hb, gen, cfg.min_shift, cfg.max_shift, cfg.margin))


@torch.no_grad()
def co_move_ratio(G: Generator, seg: TinyUNet | None, num: int = 200, seed: int = 0, batch: int = 16,
                  cfg: CoMoveConfig = CoMoveConfig(), progress: bool = True,
                  move_at: Iterable[int] | None = None, carry: int | None = None) -> CoMoveResult:
    """Average co-move ratio over `num` random (latent, heatmap, centre, move) draws; seg=None tracks the patch
    under the centre instead of a segmented object. `move_at`: a diagnostic, the synthesis resolutions that see
    the moved heatmaps (the others keep the original ones); None moves them everywhere, as the editor does.
    `carry`: render the moved image carrying the object's look from its old place after the block at this
    resolution (`spatialgan.carry`, as the editor does by default); None renders it plainly, as the paper does."""
    from tqdm import tqdm

    if not G.heatmap_resolutions:
        raise SpatialGANError("the co-move ratio needs a model with heatmaps; this one has none")
    moved_res = set(G.heatmap_resolutions if move_at is None else move_at)
    if not moved_res or not moved_res <= set(G.heatmap_resolutions):
        raise SpatialGANError(f"the resolutions to move at must be among those that take heatmaps in this model, "
                              f"{sorted(G.heatmap_resolutions)}; got {sorted(moved_res)}")
    device = next(G.parameters()).device
    dtype = next(G.parameters()).dtype
    gen = torch.Generator().manual_seed(seed)
    ratios: list[float] = []
    per_move: list[float | None] = []
    no_object = lost = 0
    with tqdm(total=num, desc="co-move", disable=not progress, leave=False, **bar_options()) as bar:
        for s in range(0, num, batch):
            b = min(batch, num - s)
            z, hb, index, before, target = draw_moves(G, b, gen, cfg)
            p = (target - before).numpy().astype(np.float64)
            moved = move_object(hb, index, target - before)
            ws = G.map_z(z.to(device, dtype), psi=cfg.psi)
            hb, moved = hb.to(device), moved.to(device)
            maps0, maps1 = (heatmap_inputs(G, h, dtype) for h in (hb, moved))
            assert maps0 is not None and maps1 is not None
            maps1 = {r: maps1[r] if r in moved_res else m for r, m in maps0.items()}
            homes = moved_level(hb).centres if carry is not None else None
            imgs = [render(G, ws, hb).image.float().clamp(-1, 1),
                    render(G, ws, moved, homes=homes, carry_at=carry or DEFAULT_RESOLUTION,
                           maps=maps1).image.float().clamp(-1, 1)]
            if seg is not None:
                small = [torch.nn.functional.interpolate(im, size=(seg.config.resolution,) * 2, mode="area")
                         for im in imgs]
                seg_device = next(seg.parameters()).device
                (lab0, f0), (lab1, f1) = (seg.predict(x.to(seg_device)) for x in small)
            for k in range(b):
                if seg is None:
                    q = track_patch(imgs[0][k].cpu(), imgs[1][k].cpu(), before[k].numpy(),
                                    cfg.max_shift + cfg.margin, cfg)
                else:
                    q = match_displacement(lab0[k].cpu().numpy(), f0[k].cpu().numpy(), small[0][k].cpu().numpy(),
                                           lab1[k].cpu().numpy(), f1[k].cpu().numpy(), small[1][k].cpu().numpy(),
                                           before[k].numpy(), cfg)
                if isinstance(q, str):
                    no_object += q in ("no_object", "flat")  # nothing to follow under the centre
                    lost += q == "lost"
                    per_move.append(None)
                    continue
                ratios.append(float(p[k] @ q / (p[k] @ p[k])))
                per_move.append(ratios[-1])
            bar.update(b)
    if not ratios:
        if seg is None:
            raise SpatialGANError(f"no move could be measured in {num} tries: every patch under a centre was flat")
        raise SpatialGANError(f"no move could be measured in {num} tries (centres on background: {no_object}, "
                              f"objects lost: {lost}); is the segmenter trained on this kind of image?")
    arr = np.asarray(ratios)
    return CoMoveResult(float(arr.mean()), float(arr.std()), float(np.median(arr)), len(arr), num, no_object, lost,
                        "segment" if seg is not None else "patch", tuple(per_move))
