"""Moving or removing a selected object by editing the features of one coarse block (the carry's mechanism,
`spatialgan.carry`, with a selected region as the window instead of a heatmap's Gaussian).

After block `edit_block`, with the region's soft footprint m (the selection averaged down to the block, and one cell
around it: `footprint`) and the drag d:

    base  = (1 - m) x + m fill(x)              the object taken out: its place filled from its surroundings
    x'    = m(u - d) x(u - d) + (1 - m(u - d)) base      and pasted back, moved by d

`fill` spreads the features around the region into it (a push-pull pyramid), so the finer blocks draw background
where the object was; a removal is the first line alone. The skip picture at that block is edited the same way, and
the finer blocks redraw details and blend the seams. Several edits apply in order, each to the result of the last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..carry import _pixel_grid, carry_resolution
from ..errors import SpatialGANError
from ..model import SteerableModel

Heatmaps = Mapping[int, torch.Tensor]
EDIT_BLOCK = 16  # as the carry: the layout is set here and the finer blocks still have room to blend


@dataclass(frozen=True)
class ObjectEdit:
    """One edit: `mask` (r, r) in [0, 1] on any square grid over the picture (a selection's map), moved by
    `shift` (dx, dy) in image units, or removed where `shift` is None."""

    mask: torch.Tensor
    shift: tuple[float, float] | None

    def __post_init__(self) -> None:
        m = self.mask
        if not isinstance(m, torch.Tensor) or m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
            raise SpatialGANError(f"an object's mask must be a square (r, r) tensor, got "
                                  f"{tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__}")
        if not bool(((m >= 0) & (m <= 1)).all()):
            raise SpatialGANError("an object's mask must hold values in [0, 1]")
        if self.shift is not None and not (len(self.shift) == 2 and all(np.isfinite(v) for v in self.shift)):
            raise SpatialGANError(f"an object's move must be two finite numbers (dx, dy), got {self.shift!r}")

    @staticmethod
    def from_selection(mask: np.ndarray, shift: tuple[float, float] | None) -> "ObjectEdit":
        return ObjectEdit(torch.from_numpy(np.asarray(mask, np.float32)), shift)


def edit_block(G: SteerableModel, wanted: int = EDIT_BLOCK) -> int:
    """The block after which `G`'s objects are edited; a clear error for a model whose layers are not drawn on the
    picture's own grid (StyleGAN3: its layers carry margins and rotate with the latent's transform)."""
    caps = G.capabilities
    blocks = G.synthesis.block_resolutions
    if not blocks or max(blocks) != caps.resolution:
        raise SpatialGANError("moving an object edits a block's features on the picture's grid; this model's layers "
                              "are not drawn on it (StyleGAN3), so use handle/target drags on it")
    return min(carry_resolution(blocks, wanted), caps.default_tap)


def _to(mask: torch.Tensor, size: int, like: torch.Tensor) -> torch.Tensor:
    """(1, 1, size, size) of `mask` resampled by area (down) or bilinearly (up): soft edges either way."""
    m = mask.to(like.device, torch.float32)[None, None]
    if m.shape[-1] == size:
        return m
    if m.shape[-1] > size:
        return F.adaptive_avg_pool2d(m, size)
    return F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False)


def footprint(mask: torch.Tensor) -> torch.Tensor:
    """(1, 1, r, r): the cells at the block that draw the object, `mask` (1, 1, r, r) and one cell around it (the
    3 x 3 maximum). The finer blocks' convolutions and up-sampling read a cell's neighbours, so the cells just
    outside the outline still draw the object's edge, and cells the outline crosses hold only part of it; a cut
    by the mask alone leaves a ghost of the outline behind (bench/object_moves.py on pets64-plain: the region
    move's segmented co-move is 0.93 with the margin, 0.58 without)."""
    return F.max_pool2d(mask, 3, stride=1, padding=1)


def fill_from_surroundings(x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """`x` (B, C, r, r) where `known` (1, 1, r, r) is 1, and the features around the unknown part spread into it
    elsewhere: each pyramid level fills its holes from the next coarser one (push-pull)."""
    if x.shape[-1] <= 1 or bool((known >= 1).all()):
        return x
    num = F.avg_pool2d(x * known, 2, ceil_mode=True)
    den = F.avg_pool2d(known, 2, ceil_mode=True)
    coarse = fill_from_surroundings(num / den.clamp_min(1e-6), (den > 1e-6).to(den))
    up = F.interpolate(coarse, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return known * x + (1 - known) * up


def _shifted(t: torch.Tensor, shift: tuple[float, float], padding: str) -> torch.Tensor:
    """t(u - d): `t` (B, C, r, r) moved by `shift` image units, bilinearly."""
    yy, xx = _pixel_grid(t.shape[-1], torch.empty(0, device=t.device))  # pixel centres, float32
    grid = torch.stack([xx - shift[0], yy - shift[1]], -1) * 2 - 1
    return F.grid_sample(t, grid[None].expand(t.shape[0], -1, -1, -1).to(t.dtype), mode="bilinear",
                         padding_mode=padding, align_corners=False)


def apply_edits(x: torch.Tensor, edits: Sequence[ObjectEdit]) -> torch.Tensor:
    """Features or a picture (B, C, r, r) with `edits` applied in order (see the module docstring)."""
    dtype = x.dtype
    x = x.float()
    for e in edits:
        m = footprint(_to(e.mask, x.shape[-1], x))
        base = (1 - m) * x + m * fill_from_surroundings(x, 1 - m)
        if e.shift is not None:
            m_to = _shifted(m, e.shift, "zeros")
            base = m_to * _shifted(x, e.shift, "border") + (1 - m_to) * base
        x = base
    return x.to(dtype)


class EditHook:
    """Plugs object edits into synthesis (`SynthesisHook`): after block index `block` the features and the skip
    picture are edited."""

    def __init__(self, edits: Sequence[ObjectEdit], block: int) -> None:
        self.edits, self.block = list(edits), block

    def begin(self, ws: torch.Tensor, heatmaps: Heatmaps | None) -> tuple[torch.Tensor, Heatmaps | None]:
        return ws, heatmaps

    def after_block(self, index: int, x: torch.Tensor, img: torch.Tensor | None, ws: torch.Tensor,
                    heatmaps: Heatmaps | None
                    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, Heatmaps | None]:
        if index != self.block:
            return x, img, ws, heatmaps
        return apply_edits(x, self.edits), apply_edits(img, self.edits) if img is not None else None, ws, heatmaps


def region_handles(mask: np.ndarray, size: int, count: int = 4) -> list[tuple[float, float]]:
    """Up to `count` points (x, y) in pixels of a `size` px picture spread over the region `mask` (r, r): the cell
    nearest its centroid, then each next the cell farthest from those chosen (DragGAN's handles for the region)."""
    cells = np.argwhere(np.asarray(mask) > 0.5).astype(np.float64)  # (N, 2) as (y, x)
    if len(cells) == 0:
        raise SpatialGANError("the selection is empty: click an object first")
    chosen = [int(np.argmin(((cells - cells.mean(0)) ** 2).sum(1)))]
    dist = ((cells - cells[chosen[0]]) ** 2).sum(1)
    while len(chosen) < min(count, len(cells)):
        chosen.append(int(np.argmax(dist)))
        dist = np.minimum(dist, ((cells - cells[chosen[-1]]) ** 2).sum(1))
    r = mask.shape[0]
    return [(float((c[1] + 0.5) / r * size - 0.5), float((c[0] + 0.5) / r * size - 0.5)) for c in cells[chosen]]


def flexible_area(edit: ObjectEdit, size: int, block: int = EDIT_BLOCK) -> torch.Tensor:
    """(size, size) in {0, 1}: where a refine of the move may change the picture (DragGAN's mask): the cut's
    footprint at the edit block `block`, where it moves to, and one cell of that block around both. DragGAN's mask
    term holds the rest at the picture before the move, so an area narrower than the footprint pulls the moved
    object's edge back (bench/object_moves.py: the refine's segmented co-move on pets64-plain is 0.96 with this
    area, 0.92 with the selection and one map pixel around it; on rooms64-plain 0.81 against 0.76)."""
    m = footprint(_to(edit.mask, block, edit.mask))
    if edit.shift is not None:
        m = torch.maximum(m, _shifted(m, edit.shift, "zeros"))
    m = F.max_pool2d((m > 0.05).float(), 3, stride=1, padding=1)
    return (F.interpolate(m, size=(size, size), mode="nearest")[0, 0] > 0.5).float()
