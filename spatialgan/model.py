"""What the editor, the command-line tools and the DragGAN engine may know about a model: its capabilities.

A model is anything that implements `SteerableModel`: `mapping` (z -> ws), `synthesis` (blocks the render path runs),
`heatmap_inputs` (a layout -> the sub-maps it consumes), `default_layout` (the heatmaps a seed draws), `restyle`
(a fresh latent for one code) and `capabilities`. The GUI asks "does it have heatmap panels, which codes can be
restyled, which blocks can DragGAN tap" and never which encoding or architecture a model has, so a new
architecture (a plain StyleGAN2, EqGAN-SA's hierarchical heatmaps) is one more implementation of this interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Literal, Mapping, Protocol, runtime_checkable

import torch

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
    description: str  # one line for people: architecture and heatmaps

    @property
    def preview_resolution(self) -> int | None:
        """The draft an editor shows while a gesture goes on: the finest draft block at most a quarter of the
        resolution and at most 128 px (the blocks above that hold most of a large model's cost)."""
        fits = [r for r in self.draft_resolutions if r <= min(self.resolution // 4, 128)]
        return max(fits) if fits else None

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

    def sample_z(self, batch: int, seed: int | None = None, device: torch.device | str | None = None
                 ) -> torch.Tensor: ...

    def mapping(self, z: torch.Tensor, psi: float = 1.0, update_w_avg: bool = False) -> torch.Tensor: ...

    def heatmap_inputs(self, batch: HeatmapBatch) -> dict[int, torch.Tensor]: ...

    def seed_ws(self, seed: int, psi: float = 1.0, label: int | None = None) -> torch.Tensor: ...

    def default_layout(self, seed: int) -> HeatmapSpec | None: ...

    def check_layout(self, spec: HeatmapSpec) -> None: ...

    def restyle(self, ws: torch.Tensor, index: int, seed: int, psi: float = 1.0) -> torch.Tensor: ...


def draft_resolutions(block_resolutions: list[int], resolution: int, smallest: int = 32) -> tuple[int, ...]:
    """Blocks below the output whose RGB is worth showing as a preview: at least `smallest` px, finest first."""
    return tuple(r for r in reversed(block_resolutions) if smallest <= r < resolution)
