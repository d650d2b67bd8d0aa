"""Carrying an object's look along when its heatmap centre moves (our extension at inference, not the paper's).

The bundled small-budget models redraw rather than carry: move a centre and a different object often appears at
the new place (docs/steering.md). The layout is set in the coarse blocks, so the carry works there. Every object
has a home, the place its look comes from (where the seed put it); homes belong to the edit, not to the heatmap
spec. Synthesis runs the blocks up to `resolution` twice in one batch (`CarryHook`): with the current heatmaps and
with every object at its home. After that block, each object's Gaussian window at its current centre, `window`
times its sigma wide, takes the home features shifted by the object's move; outside the windows the current
features stay, so a moved object's old place is drawn afresh and the finer blocks blend the seams:

    x = (1 - sum_i m_i) x_now + sum_i m_i x_home(u - d_i),   m_i = exp(-|u - c_i|^2 / (2 (window sigma_i)^2))

with the windows scaled down where they overlap to sum to 1. Only moved objects have a window, so with every object
at home the result is the plain render; removed objects (weight 0) have none either. In hierarchical mode the
objects are the roots, each moving with its sub-tree: its window is the max over the windows of all its centres
(an animal may lie around its finer centres rather than on its root), and a child's offset from its root is kept at
home too, so a child's own edit survives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from .errors import SpatialGANError
from .heatmaps import HeatmapBatch, HeatmapLevel, HeatmapSpec
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


Homes = Sequence[Sequence[float]]  # one (x, y) per object, absolute image units


def check_homes(spec: HeatmapSpec, homes: Homes) -> None:
    """Raise `SpatialGANError` unless `homes` holds one finite (x, y) per object of `spec`."""
    if len(homes) != len(spec.levels[0]):
        raise SpatialGANError(f"{len(homes)} home(s) for {len(spec.levels[0])} object(s): one home per object")
    for i, h in enumerate(homes):
        if (len(h) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                   for v in h)):
            raise SpatialGANError(f"home {i} must be [x, y] in image units, got {h!r}")


def away_from_home(spec: HeatmapSpec, homes: Homes | None) -> bool:
    """Whether some object is away from its home: only then does a carry change the picture."""
    return homes is not None and any(tuple(h) != p for h, p in zip(homes, spec.object_places()))


def homes_tensor(spec: HeatmapSpec | None, homes: Homes | None, device: torch.device | str,
                 always: bool = False) -> torch.Tensor | None:
    """The homes as (1, m, 2) for `spatialgan.render`, or None where carrying cannot change the picture (no homes,
    or every object at home, unless `always`: an optimiser about to move the centres needs the carry in place)."""
    if spec is None or homes is None or not (always or away_from_home(spec, homes)):
        return None
    check_homes(spec, homes)
    return torch.tensor([[list(map(float, h)) for h in homes]], dtype=torch.float32, device=device)


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
    """The carry of `batch`'s objects from `home` (B, m, 2); `render` turns a layout into the model's sub-maps."""
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


class CarryHook:
    """Plugs a carry into synthesis (`SynthesisHook`): the blocks up to `block` run on the current and the home
    layout side by side in one batch; after `block` the two are blended (`carry_blend`) and the batch halves."""

    def __init__(self, carry: Carry, block: int) -> None:
        self.carry, self.block, self.batch = carry, block, carry.shifts.shape[0]

    def begin(self, ws: torch.Tensor, heatmaps: Heatmaps | None) -> tuple[torch.Tensor, Heatmaps]:
        if heatmaps is None:
            raise SpatialGANError("a carry needs heatmaps: this generator takes none")
        return torch.cat([ws, ws]), {r: torch.cat([h, self.carry.home_maps[r].to(h)]) for r, h in heatmaps.items()}

    def after_block(self, index: int, x: torch.Tensor, img: torch.Tensor, ws: torch.Tensor, heatmaps: Heatmaps | None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Heatmaps | None]:
        if index != self.block:
            return x, img, ws, heatmaps
        b, c = self.batch, self.carry
        assert heatmaps is not None
        return (carry_blend(x[:b], x[b:], c), carry_blend(img[:b], img[b:], c), ws[:b],
                {r: h[:b] for r, h in heatmaps.items()})


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
