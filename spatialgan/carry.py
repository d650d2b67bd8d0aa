"""Carrying an object's look along when its heatmap centre moves (our extension at inference, not the paper's).

The bundled small-budget models redraw rather than carry: move a centre and a different object often appears at
the new place (README, "Why objects follow only part of the way"; carry error moved / unmoved 0.84-0.99). The
layout is set in the coarse blocks (bench/results/comove_by_layer.md), so the carry works there. Every object has a
home, the place its look comes from (where the seed put it). Synthesis runs the blocks up to `resolution` twice in
one batch: with the current heatmaps and with every object at its home. After that block, each object's Gaussian
window at its current centre, `window` times its sigma wide, takes the home features shifted by the object's move;
outside the windows the current features stay, so a moved object's old place is drawn afresh and the finer blocks
blend the seams:

    x = (1 - sum_i m_i) x_now + sum_i m_i x_home(u - d_i),   m_i = exp(-|u - c_i|^2 / (2 (window sigma_i)^2))

with the windows scaled down where they overlap to sum to 1. Only moved objects have a window, so with every object
at home the result is the plain render; removed objects (weight 0) have none either. In hierarchical mode the
objects are the roots, each moving with its sub-tree: its window is the max over the windows of all its centres
(an animal may lie around its finer centres rather than on its root), and a child's offset from its root is kept at
home too, so a child's own edit survives.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from .errors import SpatialGANError
from .heatmaps import HeatmapBatch, HeatmapLevel
from .heatmaps.moves import moved_level

Heatmaps = Mapping[int, torch.Tensor]

DEFAULT_RESOLUTION = 16  # the block after which features are carried (see bench/results/carry.md)
DEFAULT_WINDOW = 2.0     # window width in object sigmas


def carry_resolution(block_resolutions: Sequence[int], wanted: int = DEFAULT_RESOLUTION) -> int:
    """`wanted` if the model has a block there, else its largest block below it (its smallest, failing that)."""
    below = [r for r in block_resolutions if r <= wanted]
    return max(below) if below else min(block_resolutions)


@dataclass(frozen=True)
class Carry:
    """What `SynthesisNetwork` needs to carry objects: the home layout's sub-maps and each object's move."""

    home_maps: Heatmaps     # resolution -> sub-maps (B, n, r, r) with every object at its home
    shifts: torch.Tensor    # (B, m, 2) each object's current centre - its home
    weights: torch.Tensor   # (B, m) objects' current amplitudes; 0 means removed, no window
    centres: torch.Tensor   # (B, P, 2) the current centres of every part: each object's centres (its sub-tree)
    sigmas: torch.Tensor    # (B, P) their sigmas
    owners: torch.Tensor    # (P,) the object each part belongs to; a part of weight 0 has no window
    part_weights: torch.Tensor  # (B, P)
    resolution: int = DEFAULT_RESOLUTION
    window: float = DEFAULT_WINDOW


def object_roots(mode: str, parents: Sequence[Sequence[int | None]]) -> list[list[int]]:
    """For every level (given by its parent links), the index of each centre's object: its root in hierarchical
    mode, itself in multi mode."""
    if mode == "multi":
        return [list(range(len(p))) for p in parents]
    roots: list[list[int]] = [list(range(len(parents[0])))]
    for level in parents[1:]:
        roots.append([roots[-1][p] if p is not None else 0 for p in level])
    return roots


def home_batch(batch: HeatmapBatch, home: torch.Tensor) -> HeatmapBatch:
    """`batch` with every object moved back to its home (B, m, 2), its sub-tree with it (offsets, sigmas and
    weights kept): the layout whose features the objects carry."""
    objects = moved_level(batch)
    if home.shape != objects.centres.shape:
        raise SpatialGANError(f"home must be {tuple(objects.centres.shape)} (one place per object), "
                              f"got {tuple(home.shape)}")
    back = home.to(objects.centres) - objects.centres  # (B, m, 2)
    levels = [HeatmapLevel(lv.centres + back[:, idx], lv.sigmas, lv.weights)
              for lv, idx in zip(batch.levels, object_roots(batch.mode, batch.parents))]
    return HeatmapBatch(batch.mode, levels, batch.parents)


def make_carry(render: Callable[[HeatmapBatch], dict[int, torch.Tensor]], batch: HeatmapBatch, home: torch.Tensor,
               resolution: int = DEFAULT_RESOLUTION, window: float = DEFAULT_WINDOW) -> Carry:
    """The carry of `batch`'s objects from `home` (B, m, 2); `render` is the generator's `render_heatmaps`."""
    if window <= 0:
        raise SpatialGANError(f"the carry window must be > 0 object sigmas, got {window}")
    objects = moved_level(batch)
    levels = [batch.levels[-1]] if batch.mode == "multi" else batch.levels
    owners = _owners(batch.mode, tuple(tuple(p) for p in batch.parents), objects.centres.device)
    return Carry(render(home_batch(batch, home)), objects.centres - home.to(objects.centres), objects.weights,
                 torch.cat([lv.centres for lv in levels], 1), torch.cat([lv.sigmas for lv in levels], 1),
                 owners, torch.cat([lv.weights for lv in levels], 1), resolution, window)


@lru_cache(maxsize=32)
def _owners(mode: str, parents: tuple[tuple[int | None, ...], ...], device: torch.device) -> torch.Tensor:
    """The object of every part (see `Carry.owners`), made once per heatmap structure and device: a CUDA graph
    capture may not copy from the host, and the editor's first, uncaptured renders fill this cache."""
    roots = object_roots(mode, parents)
    used = roots if mode == "hierarchical" else roots[-1:]  # a multi heatmap's objects are its one level
    # A normal tensor even when first made under inference_mode (the editor's renders): a later refine uses it
    # in autograd, where inference tensors may not be saved for backward.
    with torch.inference_mode(False):
        return torch.tensor([o for idx in used for o in idx], device=device)


def _pixel_grid(res: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    t = (torch.arange(res, device=like.device, dtype=like.dtype) + 0.5) / res
    return torch.meshgrid(t, t, indexing="ij")  # (yy, xx), pixel centres in image units


def carry_blend(now: torch.Tensor, home: torch.Tensor, carry: Carry) -> torch.Tensor:
    """Blend features (or the skip image) `now` and `home`, both (B, C, r, r), as the module docstring says."""
    b, _, r, _ = now.shape
    dtype = now.dtype
    yy, xx = _pixel_grid(r, carry.centres.to(torch.float32))
    c, d = carry.centres.float(), carry.shifts.float()
    sig = (carry.window * carry.sigmas.float()).clamp_min(1e-4)
    d2 = (xx - c[..., 0, None, None]) ** 2 + (yy - c[..., 1, None, None]) ** 2  # (B, P, r, r)
    parts = torch.exp(-d2 / (2 * sig[..., None, None] ** 2)) * (carry.part_weights.float() > 0)[..., None, None]
    # An object's window covers its whole sub-tree: the max over its parts' windows (a pet may lie around its
    # finer centres rather than on the root).
    m = d.shape[1]
    owner = carry.owners.to(parts.device)[None, :, None, None].expand_as(parts)
    masks = torch.zeros(b, m, r, r, device=parts.device).scatter_reduce(1, owner, parts, "amax")
    # Only moved objects get a window. An object at home needs none (its features are already its own), and a
    # window there would paste the home picture back, including any moved object that overlapped it.
    active = (carry.weights.float() > 0) & (d.abs().amax(-1) > 1e-6)
    masks = masks * active[..., None, None]
    total = masks.sum(1, keepdim=True)
    masks = masks / total.clamp_min(1.0)  # overlapping windows share, never add up past 1
    # Sample home at u - d_i for every object at once: a batch of B * m warps (grid_sample's coordinates are -1..1).
    grid = torch.stack([xx - d[..., 0, None, None], yy - d[..., 1, None, None]], -1) * 2 - 1  # (B, m, r, r, 2)
    src = home.float().repeat_interleave(m, 0)
    warped = F.grid_sample(src, grid.reshape(b * m, r, r, 2), mode="bilinear", padding_mode="border",
                           align_corners=False).reshape(b, m, -1, r, r)
    out = now.float() * (1 - masks.sum(1, keepdim=True)) + (masks[:, :, None] * warped).sum(1)
    return out.to(dtype)
