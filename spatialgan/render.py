"""The one render path: (model, latent, layout, options) -> image, heatmaps and, when asked, feature maps.

Every picture the project makes goes through here: the editor's worker and its CUDA-graph renderer, the DragGAN
session, the metrics, training samples, the benchmarks and the figure tools. The chain is

    layout (HeatmapBatch) --model.heatmap_inputs--> sub-maps H_i (Eq. 1) --synthesis blocks--> image

with the options as arguments rather than forks of the chain: the carry (`spatialgan.carry`, plugged in as a
synthesis hook), DragGAN's feature taps, the noise mode, a draft resolution (stop at a coarser block and return
its RGB: what an editor shows while a gesture is under way on a large model) and a stop block with a
continuation (DragGAN optimises through the blocks up to its tap and draws the rest only for display).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

import torch

from .carry import DEFAULT_RESOLUTION, CarryHook, carry_resolution, make_carry
from .errors import SpatialGANError
from .heatmaps import HeatmapBatch
from .layers import NoiseMode
from .model import SteerableModel
from .objects.edit import EditHook, ObjectEdit, edit_block

Heatmaps = Mapping[int, torch.Tensor]


@dataclass
class RenderOutput:
    image: torch.Tensor  # (B, C, r, r): r is the model's resolution, or the draft's
    heatmaps: dict[int, torch.Tensor] | None  # resolution -> sub-maps the model consumed; None without heatmaps
    features: dict[int, torch.Tensor] = field(default_factory=dict)  # tapped block resolution -> its output


@dataclass
class PartialRender:
    """A render stopped after block `stop`: its features (with autograd, if enabled) and a continuation that draws
    the rest of the image without autograd."""

    features: torch.Tensor  # (B, C, stop, stop), the output of block `stop`
    heatmaps: dict[int, torch.Tensor] | None
    _model: SteerableModel = field(repr=False)
    _state: tuple = field(repr=False)  # (next block, x, img, ws, sub-maps, noise mode), detached

    def draft(self) -> torch.Tensor | None:
        """The picture as far as the blocks run so far drew it ((B, C, stop, stop), free: a skip generator adds RGB
        at every block), or None where the architecture draws only at its last block."""
        img = self._state[2]
        return img.contiguous() if img is not None else None

    def finish(self) -> torch.Tensor:
        """(B, C, R, R): the full image of this render."""
        start, x, img, ws, maps, noise_mode = self._state
        with torch.no_grad():
            for _, _, x, img in self._model.synthesis.iter_blocks(ws, maps, noise_mode, start=start, x=x, img=img):
                pass
        return img.contiguous()


def heatmap_inputs(model: SteerableModel, layout: HeatmapBatch | None, dtype: torch.dtype | None = None
                   ) -> dict[int, torch.Tensor] | None:
    """The sub-maps `model` consumes for `layout` (None for a model without heatmaps), in `dtype` if given."""
    if not model.heatmap_resolutions:
        return None
    if layout is None:
        raise SpatialGANError("this model is steered by heatmaps: give it a layout (a HeatmapBatch)")
    maps = model.heatmap_inputs(layout)
    return maps if dtype is None else {r: m.to(dtype) for r, m in maps.items()}


class _Hooks:
    """Several synthesis hooks in order (the carry, then object edits)."""

    def __init__(self, hooks: list[Any]) -> None:
        self.hooks = hooks

    def begin(self, ws: torch.Tensor, heatmaps: Heatmaps | None) -> tuple[torch.Tensor, Heatmaps | None]:
        for h in self.hooks:
            ws, heatmaps = h.begin(ws, heatmaps)
        return ws, heatmaps

    def after_block(self, index: int, x: torch.Tensor, img: torch.Tensor, ws: torch.Tensor, heatmaps: Heatmaps | None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Heatmaps | None]:
        for h in self.hooks:
            x, img, ws, heatmaps = h.after_block(index, x, img, ws, heatmaps)
        return x, img, ws, heatmaps


def _blocks(model: SteerableModel, ws: torch.Tensor, layout: HeatmapBatch | None, homes: torch.Tensor | None,
            carry_at: int, last: int, noise_mode: NoiseMode, maps: Heatmaps | None, edits: Sequence[ObjectEdit] = ()
            ) -> tuple[dict[int, torch.Tensor] | None, Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]]:
    """The sub-maps and the synthesis blocks' outputs (index, resolution, x, img) up to block resolution `last`."""
    synthesis = model.synthesis
    heat = dict(maps) if maps is not None else heatmap_inputs(model, layout, ws.dtype)
    synthesis.check_inputs(ws, heat)
    hooks: list[Any] = []
    if homes is not None:
        if layout is None or heat is None:
            raise SpatialGANError("a carry needs a model with heatmaps and a layout")
        blocks = synthesis.block_resolutions
        res = carry_resolution(blocks, min(carry_at, last))
        carry = make_carry(lambda b: heatmap_inputs(model, b, ws.dtype), layout, homes, res)  # type: ignore[arg-type]
        synthesis.check_heatmaps(carry.home_maps, ws.shape[0])
        hooks.append(CarryHook(carry, blocks.index(res)))
    if edits:
        at = edit_block(model)
        if at > last:
            raise SpatialGANError(f"objects are moved after the {at} px block; this render stops at {last} px")
        hooks.append(EditHook(edits, synthesis.block_resolutions.index(at)))
    hook = hooks[0] if len(hooks) == 1 else _Hooks(hooks) if hooks else None
    b = ws.shape[0]

    def run() -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]:
        for i, res, x, img in synthesis.iter_blocks(ws, heat, noise_mode, hook=hook):
            # before the carry's blend the batch also holds the home layout; some architectures draw no picture
            # before their last block (img None)
            yield i, res, x[:b], img[:b] if img is not None else None
            if res == last:
                return

    return heat, run()


def render(model: SteerableModel, ws: torch.Tensor, layout: HeatmapBatch | None = None, *,
           homes: torch.Tensor | None = None, carry_at: int = DEFAULT_RESOLUTION, noise_mode: NoiseMode = "const",
           taps: Iterable[int] = (), draft: int | None = None, maps: Heatmaps | None = None,
           edits: Sequence[ObjectEdit] = ()) -> RenderOutput:
    """Draw `ws` (B, K, num_ws, w_dim) with the heatmaps of `layout`.

    homes: (B, m, 2) each object's home; moved objects keep the look they have there (`spatialgan.carry`), blended
    after the block at `carry_at` (or the nearest block below it). taps: block resolutions whose outputs to return.
    draft: stop at this block resolution and return its RGB (B, C, draft, draft). maps: sub-maps to use instead of
    the layout's (diagnostics that feed different layouts to different blocks); the carry still uses `layout`.
    edits: objects moved or removed by their features (`spatialgan.objects.edit`), after the carry.
    """
    blocks = model.synthesis.block_resolutions
    wanted = set(taps)
    model.synthesis.check_blocks(wanted | ({draft} if draft is not None else set()))
    last = draft if draft is not None else blocks[-1]
    if any(t > last for t in wanted):
        raise SpatialGANError(f"taps {sorted(wanted)} lie beyond the draft resolution {last}")
    heat, steps = _blocks(model, ws, layout, homes, carry_at, last, noise_mode, maps, edits)
    features: dict[int, torch.Tensor] = {}
    img = None
    for _, res, x, img in steps:
        if res in wanted:
            features[res] = x.contiguous()  # a fused copy may run channels-last on CPU
    if img is None:
        raise SpatialGANError(f"this model draws no picture before its last block: no draft at {last} px")
    return RenderOutput(img.contiguous(), heat, features)


def render_until(model: SteerableModel, ws: torch.Tensor, layout: HeatmapBatch | None, stop: int, *,
                 homes: torch.Tensor | None = None, carry_at: int = DEFAULT_RESOLUTION,
                 noise_mode: NoiseMode = "const", edits: Sequence[ObjectEdit] = ()) -> PartialRender:
    """Run the blocks up to resolution `stop` (DragGAN's feature tap) and return their features with a
    continuation for the image; the carry blends and `edits` apply at or before `stop`."""
    model.synthesis.check_blocks({stop})
    heat, steps = _blocks(model, ws, layout, homes, carry_at, stop, noise_mode, None, edits)
    n = x = img = None
    for n, _, x, img in steps:
        pass
    assert n is not None and x is not None
    # Snapshot what the rest needs: the caller may update ws and the centres in place after this.
    state = (n + 1, x.detach(), img.detach() if img is not None else None, ws.detach().clone(),
             {r: h.detach() for r, h in heat.items()} if heat is not None else None, noise_mode)
    return PartialRender(x, heat, model, state)
