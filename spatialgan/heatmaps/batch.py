"""Batched tensor form of heatmaps: what samplers produce, renderers consume and optimisers edit.

Centres are absolute (x, y) positions in image units ([0, 1] spans the image, x to the right, y down);
sigma is the Gaussian's standard deviation in the same units; weight is the sub-map's amplitude
(1 as in training, 0 removes the object).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class HeatmapLevel:
    """The Gaussians of one level (hierarchical mode) or of the whole image (multi-object mode)."""

    centres: torch.Tensor  # (B, n, 2) absolute (x, y)
    sigmas: torch.Tensor  # (B, n)
    weights: torch.Tensor  # (B, n)

    def __post_init__(self) -> None:
        b, n, two = self.centres.shape
        assert two == 2 and self.sigmas.shape == (b, n) and self.weights.shape == (b, n), (
            self.centres.shape, self.sigmas.shape, self.weights.shape)

    @property
    def batch_size(self) -> int:
        return self.centres.shape[0]

    @property
    def num_centres(self) -> int:
        return self.centres.shape[1]

    def to(self, device: torch.device | str) -> "HeatmapLevel":
        return HeatmapLevel(self.centres.to(device), self.sigmas.to(device), self.weights.to(device))

    def select(self, index: int | slice) -> "HeatmapLevel":
        s = slice(index, index + 1) if isinstance(index, int) else index
        return HeatmapLevel(self.centres[s], self.sigmas[s], self.weights[s])


@dataclass
class HeatmapBatch:
    """Heatmaps for a batch of images.

    hierarchical: one `HeatmapLevel` per encoded feature resolution, `parents[l][i]` the index of centre i's
    parent in level l-1 (None at level 0); multi: a single level of independent objects.
    """

    mode: str
    levels: list[HeatmapLevel]
    parents: list[list[int | None]]

    @property
    def batch_size(self) -> int:
        return self.levels[0].batch_size

    def to(self, device: torch.device | str) -> "HeatmapBatch":
        return HeatmapBatch(self.mode, [lv.to(device) for lv in self.levels], self.parents)

    def select(self, index: int | slice) -> "HeatmapBatch":
        """Batch element `index` (kept as a batch of one) or a slice of the batch."""
        return HeatmapBatch(self.mode, [lv.select(index) for lv in self.levels], self.parents)

    def repeat(self, times: int) -> "HeatmapBatch":
        """The batch repeated `times` times along the batch dimension (one layout for several latents)."""
        return HeatmapBatch(self.mode, [HeatmapLevel(lv.centres.repeat(times, 1, 1), lv.sigmas.repeat(times, 1),
                                                     lv.weights.repeat(times, 1)) for lv in self.levels],
                            self.parents)
