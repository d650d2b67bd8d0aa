"""What the editor, the command-line tools and the DragGAN engine may know about a model: its capabilities.

A model is anything that implements `SteerableModel`: `map_z` (z -> ws), `synthesis` (blocks the render path runs),
`heatmap_inputs` (a layout -> the sub-maps it consumes), `default_layout` (the heatmaps a seed draws), `restyle`
(a fresh latent for one code) and `capabilities`. The GUI asks "does it have heatmap panels, which codes can be
restyled, which blocks can DragGAN tap" and never which encoding or architecture a model has, so a new
architecture (a plain StyleGAN2, EqGAN-SA's hierarchical heatmaps) is one more implementation of this interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Literal, Mapping, Protocol, runtime_checkable

import torch
from torch import nn

from .heatmaps import HeatmapBatch, HeatmapSpec

LayoutKind = Literal["hierarchical", "objects"]


@dataclass(frozen=True)
class Panel:
    """One heatmap panel the editor shows: the centres of one level (hierarchical), or every object."""

    level: int | None  # the spec level whose centres it shows; None: all objects (independent-object layouts)
    resolution: int  # the feature resolution its heatmap enters at (the finest one for objects)
    centres: int  # how many centres it holds


@dataclass(frozen=True)
class Capabilities:
    resolution: int  # output image size
    # How centres relate: "hierarchical" (a tree, a coarse centre carries its finer ones: one object per root),
    # "objects" (independent objects, one centre each), or None for a model without heatmaps.
    layout: LayoutKind | None
    panels: tuple[Panel, ...]  # empty without heatmaps
    num_codes: int  # latent codes per image (one, or one per object plus a background code)
    restylable: tuple[int, ...]  # codes that can be resampled on their own; object i is code i where listed
    background_code: int | None  # the code that styles everything but the objects, if it is separate
    class_labels: tuple[str, ...]  # conditional models: the labels to pick from; empty when unconditional
    tap_blocks: tuple[int, ...]  # block resolutions whose features DragGAN can track
    default_tap: int  # the block DragGAN tracks unless told otherwise
    draft_resolutions: tuple[int, ...]  # coarser blocks whose RGB is a usable preview, finest first
    num_ws: int  # w vectors per code (w+)
    w_dim: int  # size of each w vector
    description: str  # one line for people: architecture and heatmaps
    draft_costs: tuple[float, ...] = ()  # per draft resolution: its share of a full render's multiply-adds

    @property
    def preview_resolution(self) -> int | None:
        """The draft an editor shows while a gesture goes on: the finest draft block that costs at most
        `PREVIEW_SHARE` of a full render (a quarter of the resolution at most, where costs are not known)."""
        if not self.draft_resolutions:
            return None
        if self.draft_costs:
            fits = [r for r, c in zip(self.draft_resolutions, self.draft_costs) if c <= PREVIEW_SHARE]
        else:
            fits = [r for r in self.draft_resolutions if r <= self.resolution // 4]
        return max(fits) if fits else min(self.draft_resolutions)

    @property
    def has_heatmaps(self) -> bool:
        return self.layout is not None

    @property
    def has_levels(self) -> bool:
        """Whether there are heatmap levels to compare (a hierarchy of two levels or more)."""
        return self.layout == "hierarchical" and len(self.panels) > 1

    @property
    def moves_objects(self) -> bool:
        """Whether a centre can be moved, removed or resized, and so whether joint/hybrid refine can work."""
        return self.layout is not None


class Synthesis(Protocol):
    """The part of a model the render path (`spatialgan.render`) runs block by block."""

    @property
    def block_resolutions(self) -> list[int]: ...

    def check_inputs(self, ws: torch.Tensor, heatmaps: Mapping[int, torch.Tensor] | None) -> None: ...

    def check_blocks(self, resolutions: Iterable[int]) -> None: ...

    def check_heatmaps(self, heatmaps: Mapping[int, torch.Tensor] | None, batch: int) -> None: ...

    def iter_blocks(self, ws: torch.Tensor, heatmaps: Mapping[int, torch.Tensor] | None, noise_mode: str = "const",
                    start: int = 0, x: torch.Tensor | None = None, img: torch.Tensor | None = None,
                    hook: Any = None) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]: ...


@runtime_checkable
class SteerableModel(Protocol):
    """The interface every architecture implements (our generator is the first)."""

    synthesis: Synthesis

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def heatmap_resolutions(self) -> list[int]: ...

    @property
    def attention_levels(self) -> dict[int, int]: ...  # heatmap resolution -> D activation GradCAM compares it with

    def sample_z(self, batch: int, seed: int | None = None, device: torch.device | str | None = None
                 ) -> torch.Tensor: ...

    def heatmap_inputs(self, batch: HeatmapBatch) -> dict[int, torch.Tensor]: ...

    def z_shape(self, batch: int) -> tuple[int, ...]: ...

    def map_z(self, z: torch.Tensor, psi: float = 1.0, label: int | None = None) -> torch.Tensor: ...

    def seed_ws(self, seed: int, psi: float = 1.0, label: int | None = None) -> torch.Tensor: ...

    def mean_ws(self) -> torch.Tensor: ...

    def default_layout(self, seed: int) -> HeatmapSpec | None: ...

    def check_layout(self, spec: HeatmapSpec) -> None: ...

    def restyle(self, ws: torch.Tensor, index: int, seed: int, psi: float = 1.0) -> torch.Tensor: ...


PREVIEW_SHARE = 0.3  # a draft during a gesture should cost at most this share of the full picture


def draft_costs(blocks: Iterable[tuple[int, nn.Module]], drafts: Iterable[int]) -> tuple[float, ...]:
    """For each draft resolution, the share of a full render's multiply-adds spent in the blocks up to it: every
    conv weight of a block times the pixels of its output (a rough model of a render's cost: it leaves out
    elementwise work, which the finer blocks have more of)."""
    per: dict[int, float] = {}
    for res, block in blocks:
        per[res] = float(sum(m.weight.numel() for m in block.modules()
                             if isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.ndim == 4)) * res * res
    total = sum(per.values()) or 1.0
    return tuple(sum(c for r, c in per.items() if r <= d) / total for d in drafts)


def draft_resolutions(block_resolutions: list[int], resolution: int, smallest: int = 32) -> tuple[int, ...]:
    """Blocks below the output whose RGB is worth showing as a preview: at least `smallest` px, finest first."""
    return tuple(r for r in reversed(block_resolutions) if smallest <= r < resolution)
