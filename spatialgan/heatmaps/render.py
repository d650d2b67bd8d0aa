"""Rendering heatmaps to tensors at feature resolutions (paper Sec. 3.2, "Coarse Heatmap Processing").

The journal version down-samples the full-resolution heatmap to the feature resolution before processing it.
We take that to its limit: each pixel gets the exact mean of the Gaussian over its area (a separable erf
integral), which equals rendering at infinite resolution and average-pooling. It is cheap at any size, has
no aliasing at 4x4, and is differentiable in the centres, which the joint DragGAN optimisation needs.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from .batch import HeatmapBatch, HeatmapLevel


def _pixel_means_1d(centre: torch.Tensor, sigma: torch.Tensor, res: int) -> torch.Tensor:
    """Mean of exp(-(t - c)^2 / (2 sigma^2)) over each of `res` equal cells of [0, 1]: (..., res)."""
    edges = torch.linspace(0.0, 1.0, res + 1, device=centre.device, dtype=centre.dtype)
    scale = sigma[..., None] * math.sqrt(2.0)
    cdf = torch.erf((edges - centre[..., None]) / scale)
    width = 1.0 / res
    return (cdf[..., 1:] - cdf[..., :-1]) * (sigma[..., None] * math.sqrt(math.pi / 2.0) / width)


def render_level(level: HeatmapLevel, res: int) -> torch.Tensor:
    """Sub-maps H_i of one level at `res` x `res`: (B, n, res, res), amplitude `weight` (Eq. 1)."""
    sigma = level.sigmas.clamp_min(1e-4)  # zero-width Gaussians are empty, not NaN
    px = _pixel_means_1d(level.centres[..., 0], sigma, res)  # (B, n, res) along x
    py = _pixel_means_1d(level.centres[..., 1], sigma, res)  # (B, n, res) along y
    return level.weights[..., None, None] * py[..., :, None] * px[..., None, :]


def combine(sub_maps: torch.Tensor) -> torch.Tensor:
    """A level's heatmap H = sum_i H_i (Eq. 1), clipped to [0, 1] where objects overlap: (B, 1, r, r)."""
    return sub_maps.sum(1, keepdim=True).clamp(0.0, 1.0)


def render_heatmaps(batch: HeatmapBatch, resolutions: Sequence[int]) -> dict[int, torch.Tensor]:
    """Sub-maps at each resolution: hierarchical batches map level l to resolutions[l]; multi-object batches
    render their one level at every resolution (one heatmap shared by all synthesis layers)."""
    if batch.mode == "hierarchical":
        if len(batch.levels) != len(resolutions):
            raise ValueError(f"{len(batch.levels)} heatmap levels for {len(resolutions)} resolutions")
        return {r: render_level(level, r) for level, r in zip(batch.levels, resolutions)}
    return {r: render_level(batch.levels[0], r) for r in resolutions}
