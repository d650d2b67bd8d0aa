"""Moving a whole object with one drag, on any model whose blocks draw the picture's grid, heatmaps or not.

Select (`spatialgan.objects.Selection` on the picture's cluster map), move the selection's features by the drag
(`ObjectEdit`, a preview as cheap as one render), and optionally refine: a DragGAN session whose handles are
spread over the region, each target moved by the drag, whose flexible area is the region and where it went, with
the move in place as its coarse step (`DragSession(object_move=...)`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from spatialgan import HeatmapSpec
from spatialgan.carry import Homes
from spatialgan.heatmaps import HeatmapBatch
from spatialgan.model import SteerableModel
from spatialgan.objects import (ObjectClusters, ObjectEdit, Selection, edit_block, flexible_area, label_maps,
                                region_handles)
from spatialgan.render import render, render_until

from .config import DragConfig
from .session import DragError, DragSession, StepResult

HANDLES = 4  # handles spread over a moved region: enough to pin its shape, few enough to track cheaply


@torch.no_grad()
def picture_selection(G: SteerableModel, clusters: ObjectClusters, ws: torch.Tensor, layout: HeatmapBatch | None,
                      edits: Sequence[ObjectEdit] = (), homes: torch.Tensor | None = None) -> Selection:
    """An empty selection on the cluster map of the picture of `ws` and `layout` as it is shown (`edits` applied:
    a moved object is selected where it now is). Runs the blocks up to the clustered one only, unless an edit
    comes after it."""
    block = clusters.block
    if edits and edit_block(G) > block:
        feat = render(G, ws, layout, homes=homes, taps=[block], edits=edits).features[block]
    else:
        feat = render_until(G, ws, layout, block, homes=homes, edits=edits).features
    return Selection.empty(label_maps(clusters, feat)[0], clusters.background)


def object_edit(selection: Selection, handle: tuple[float, float], target: tuple[float, float], size: int
                ) -> ObjectEdit:
    """The move of `selection` by a drag from `handle` to `target` (pixels of a `size` px picture)."""
    return ObjectEdit.from_selection(selection.mask, ((target[0] - handle[0]) / size, (target[1] - handle[1]) / size))


def refine_session(G: SteerableModel, ws: torch.Tensor, spec: HeatmapSpec | None, edit: ObjectEdit,
                   config: DragConfig = DragConfig(mode="draggan"), edits: Sequence[ObjectEdit] = (),
                   homes: Homes | None = None, callback: Callable[[StepResult], None] | None = None,
                   count: int = HANDLES) -> DragSession:
    """A DragGAN refine of the object move `edit` (its coarse step, applied at once) with `count` handles spread
    over the region; handles whose target would leave the picture are dropped."""
    res = G.capabilities.resolution
    if edit.shift is None:
        raise DragError("a removed object has no move to refine")
    dx, dy = edit.shift[0] * res, edit.shift[1] * res
    pairs = [((x, y), (x + dx, y + dy)) for x, y in region_handles(edit.mask.numpy(), res, count)
             if 0 <= x + dx <= res - 1 and 0 <= y + dy <= res - 1]
    if not pairs:
        raise DragError("the move takes the whole object out of the picture: nothing is left to refine")
    return DragSession(G, ws, spec, [p for p, _ in pairs], [t for _, t in pairs],
                       mask=flexible_area(edit, res, edit_block(G)), config=config, callback=callback, homes=homes,
                       edits=edits, object_move=edit)
