"""Moving one object's heatmap: what the co-move measure does, and what the move-consistency loss trains on."""

from __future__ import annotations

import math

import torch

from .batch import HeatmapBatch, HeatmapLevel


def moved_level(batch: HeatmapBatch) -> HeatmapLevel:
    """The level whose centres name the objects: the sub-heatmaps in multi mode, the root in hierarchical mode."""
    return batch.levels[-1] if batch.mode == "multi" else batch.levels[0]


def move_object(batch: HeatmapBatch, index: torch.Tensor, shift: torch.Tensor) -> HeatmapBatch:
    """Move object `index[b]` by `shift[b]`. Multi mode: that sub-heatmap, which the model sees at every layer.
    Hierarchical mode: the root with all its descendants, i.e. every centre, as the editor drags it (a single-
    object model has one object; moving a leaf alone would move a part of it at most)."""
    levels = list(batch.levels)
    rows = torch.arange(shift.shape[0], device=shift.device)
    for li, lv in enumerate(levels):
        centres = lv.centres.clone()
        if batch.mode == "hierarchical":
            centres += shift[:, None]
        elif li == len(levels) - 1:
            centres[rows, index] += shift
        levels[li] = HeatmapLevel(centres, lv.sigmas, lv.weights)
    return HeatmapBatch(batch.mode, levels, batch.parents)


def random_moves(batch: HeatmapBatch, gen: torch.Generator, min_shift: float, max_shift: float, margin: float
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random object per image (see `moved_level`) and its centre before and after a move in a random direction
    by a length in [min_shift, max_shift] image units, kept `margin` inside the image. Draws from `gen` in a fixed
    order (index, angle, length), so a seeded measure sees the same moves every time."""
    lv = moved_level(batch)
    b = batch.batch_size
    index = torch.randint(lv.num_centres, (b,), generator=gen)
    dev = lv.centres.device
    before = lv.centres[torch.arange(b, device=dev), index.to(dev)].cpu()
    angle = torch.rand(b, generator=gen) * 2 * math.pi
    length = torch.rand(b, generator=gen) * (max_shift - min_shift) + min_shift
    target = before + length[:, None] * torch.stack([angle.cos(), angle.sin()], 1)
    return index, before, target.clamp(margin, 1 - margin)
