"""Heatmap samplers with the paper's statistics (Sec. 3.2 and 4.1).

Widths follow EqGAN-SA, which draws maps exp(-d^2 / s) on [-1, 1] coordinates; in our image units that is a
Gaussian with sigma = sqrt(s / 8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import HeatmapConfig
from .batch import HeatmapBatch, HeatmapLevel


@dataclass(frozen=True)
class HierarchicalSampling:
    """Single-object sampling: one root, children scattered around it, narrower level by level."""

    root_std: float = 1 / 3  # c0 ~ N(image centre, size/3)
    root_range: tuple[float, float] = (0.125, 0.875)  # resample c0 outside this box (EqGAN-SA's [-0.75, 0.75])
    child_std: float = 1 / 6  # level >= 1 centres ~ c0 + N(0, size/6)
    # EqGAN-SA width s = (U(lo, hi) + add) / div, per level; deeper levels reuse the last row.
    widths: tuple[tuple[float, float, float, float], ...] = (
        (0.5, 1.0, 0.0, 1.0),
        (0.0, 1.0, 0.1, 1.4),
        (0.0, 1.0, 0.1, 2.0),
    )
    child_limit: float = 0.45  # keep children within [-limit, 1 + limit]: valid specs, rarely reached

    def width(self, level: int) -> tuple[float, float, float, float]:
        """The width row (lo, hi, add, div) of `level`; deeper levels reuse the last row."""
        return self.widths[min(level, len(self.widths) - 1)]

    def sigma_range(self, level: int) -> tuple[float, float]:
        """The smallest and largest sigma this sampler draws at `level`."""
        lo, hi, add, div = self.width(level)
        return math.sqrt((lo + add) / div / 8), math.sqrt((hi + add) / div / 8)


@dataclass(frozen=True)
class MultiObjectSampling:
    """Multi-object sampling: n independent objects (Sec. 3.2, "Multi-object Heatmap Sampling")."""

    centre_std: float = 1 / 2  # c_i ~ N(image centre, size/2)
    centre_range: tuple[float, float] = (0.0, 1.0)  # resample centres that fall outside the image
    sigma_range: tuple[float, float] = (0.08, 0.2)  # object extent, uniform in image units


def _sigma_from_s(s: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(s / 8.0)


def _normal_in_box(shape: tuple[int, ...], mean: float, std: float, lo: float, hi: float,
                   gen: torch.Generator) -> torch.Tensor:
    """Points (..., 2) from N(mean, std^2 I), redrawing every point that has a coordinate outside [lo, hi]."""
    out = torch.randn(shape, generator=gen) * std + mean
    bad = ((out < lo) | (out > hi)).any(-1)
    for _ in range(1000):
        if not bad.any():
            return out
        redraw = torch.randn(shape, generator=gen) * std + mean
        out = torch.where(bad[..., None], redraw, out)
        bad = ((out < lo) | (out > hi)).any(-1)
    raise RuntimeError("rejection sampling did not converge; check the sampling ranges")


def _generator(seed: int | torch.Generator | None) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    gen = torch.Generator()
    gen.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**31 - 1, ()).item()))
    return gen


def sample_hierarchical(batch_size: int, centres_per_level: tuple[int, ...] = (1, 2, 4),
                        seed: int | torch.Generator | None = None,
                        params: HierarchicalSampling = HierarchicalSampling(),
                        independent: bool = False) -> HeatmapBatch:
    """Hierarchical heatmaps: level 0 has the root c0; level l > 0 centres are c0 + N(0, child_std) in
    absolute terms, stored with a parent in level l - 1 (centre k's parent is k * n_{l-1} // n_l), so
    dragging a centre carries its descendants.

    independent=True is the paper's Non-Hie ablation (Table IV): every level's centres are drawn like the
    root, ignoring c0, so the levels need not agree on where the object is."""
    gen = _generator(seed)
    levels: list[HeatmapLevel] = []
    parents: list[list[int | None]] = []
    root: torch.Tensor | None = None
    for li, n in enumerate(centres_per_level):
        lo, hi, add, div = params.width(li)
        s = (torch.rand(batch_size, n, generator=gen) * (hi - lo) + lo + add) / div
        if li == 0 or independent:
            centres = _normal_in_box((batch_size, n, 2), 0.5, params.root_std, *params.root_range, gen)
            if li == 0:
                root = centres[:, :1]
        else:
            assert root is not None
            offsets = torch.randn(batch_size, n, 2, generator=gen) * params.child_std
            centres = (root + offsets).clamp(-params.child_limit, 1 + params.child_limit)
        parents.append([None] * n if li == 0 else [k * centres_per_level[li - 1] // n for k in range(n)])
        levels.append(HeatmapLevel(centres, _sigma_from_s(s), torch.ones(batch_size, n)))
    return HeatmapBatch("hierarchical", levels, parents)


def sample_multi_object(batch_size: int, num_objects: int = 3, seed: int | torch.Generator | None = None,
                        params: MultiObjectSampling = MultiObjectSampling()) -> HeatmapBatch:
    """Multi-object heatmaps: n independent Gaussians, one per object, shared by all synthesis layers."""
    gen = _generator(seed)
    centres = _normal_in_box((batch_size, num_objects, 2), 0.5, params.centre_std, *params.centre_range, gen)
    lo, hi = params.sigma_range
    sigmas = torch.rand(batch_size, num_objects, generator=gen) * (hi - lo) + lo
    level = HeatmapLevel(centres, sigmas, torch.ones(batch_size, num_objects))
    return HeatmapBatch("multi", [level], [[None] * num_objects])


def sample_heatmaps(config: HeatmapConfig, batch_size: int, seed: int | torch.Generator | None = None,
                    independent: bool = False) -> HeatmapBatch:
    """Draw heatmaps of the kind a model with this heatmap config was trained on; `independent` drops the
    hierarchy's parent constraint (the Non-Hie ablation, `spatialgan.research`)."""
    if config.mode == "hierarchical":
        return sample_hierarchical(batch_size, tuple(config.centres_per_level), seed, independent=independent)
    return sample_multi_object(batch_size, config.num_objects, seed)


def truncated_normal_std(std: float, half_width: float) -> float:
    """Standard deviation of N(0, std^2) truncated to [-half_width, half_width] (for checking samplers)."""
    a = half_width / std
    pdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(a / math.sqrt(2))
    return std * math.sqrt(1 - 2 * a * pdf / mass)
