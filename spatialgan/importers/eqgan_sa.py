"""EqGAN-SA's generator (the conference version of SpatialGAN): a StyleGAN2-ADA generator whose every conv and RGB
layer takes a spatial encoding (SEL) of hierarchical Gaussian heatmaps, 1, 2 and 4 centres at the levels it names
b8, b16 and b32. Its networks are `stylegan2_ada`'s with `use_sel`; this module adds what the editor needs: the
heatmaps in its own convention, its sampling of a seed's layout, and the layout as our `HeatmapSpec`.

Its heatmaps are drawn at the image resolution on a grid of [-1, 1] with corners aligned, centres as (y, x):
H(p) = exp(-|p - c|^2 / s) + 0.01, one channel per centre. In our image units (pixel i's centre at (i + 0.5) / R,
(x, y) order) a centre u maps to c = 2 (u R - 0.5) / (R - 1) - 1, and its width s to our sigma by
sigma^2 = s (R - 1)^2 / (8 R^2), so the layout is an ordinary hierarchical spec the editor's panels can drag. A centre
of weight 0 leaves only the 0.01 floor (removal). The level-2 and level-3 centres are offsets from the root; the spec
hangs each level-3 centre under a level-2 one (0, 0, 1, 1) so that dragging a level-2 centre takes two with it.
"""

from __future__ import annotations

import torch

from ..errors import HeatmapSpecError
from ..heatmaps import HeatmapBatch, HeatmapLevel, HeatmapSpec
from ..model import Capabilities, Panel
from .stylegan2_ada import HEAT_LEVELS, StyleGAN2ADA

EPS = 0.01  # EqGAN-SA's floor under every heatmap
CENTRES = (1, 2, 4)
PARENTS: list[list[int | None]] = [[None], [0, 0], [0, 0, 1, 1]]


class EqGANSA(StyleGAN2ADA):
    @property
    def heatmap_resolutions(self) -> list[int]:
        return list(HEAT_LEVELS)

    @property
    def attention_levels(self) -> dict[int, int]:
        """EqGAN-SA aligns its b8, b16 and b32 heatmaps with the GradCAM of D's blocks b8, b16 and b32, whose
        outputs are 4, 8 and 16 px."""
        return {level: level // 2 for level in HEAT_LEVELS}

    @property
    def capabilities(self) -> Capabilities:
        base = super().capabilities
        panels = tuple(Panel(li, lv, n) for li, (lv, n) in enumerate(zip(HEAT_LEVELS, CENTRES)))
        return Capabilities(**{**base.__dict__, "layout": "hierarchical", "panels": panels,
                               "description": f"EqGAN-SA {self.img_resolution} px, 1/2/4 heatmap centres"})

    # ---- conventions ------------------------------------------------------------------------------------
    def _to_grid(self, u: torch.Tensor) -> torch.Tensor:
        r = self.img_resolution
        return 2 * (u * r - 0.5) / (r - 1) - 1

    def _from_grid(self, c: torch.Tensor) -> torch.Tensor:
        r = self.img_resolution
        return ((c + 1) * (r - 1) / 2 + 0.5) / r

    def _width(self, sigma: torch.Tensor) -> torch.Tensor:
        r = self.img_resolution
        return 8 * sigma.square() * r * r / (r - 1) ** 2

    def _sigma(self, s: torch.Tensor) -> torch.Tensor:
        r = self.img_resolution
        return torch.sqrt(s / 8) * (r - 1) / r

    # ---- the editor's interface -------------------------------------------------------------------------
    def heatmap_inputs(self, batch: HeatmapBatch) -> dict[int, torch.Tensor]:
        """Level b8, b16, b32 maps (B, 1 | 2 | 4, R, R) of a hierarchical 1/2/4 layout, in EqGAN-SA's form."""
        r = self.img_resolution
        g = 2 * torch.arange(r, dtype=torch.float32, device=batch.levels[0].centres.device) / (r - 1) - 1
        out = {}
        for level, lv in zip(HEAT_LEVELS, batch.levels):
            c = self._to_grid(lv.centres)  # (B, n, 2) as (x, y)
            s = self._width(lv.sigmas)[..., None, None]
            dy = (g[None, None, :, None] - c[..., 1, None, None]).square()
            dx = (g[None, None, None, :] - c[..., 0, None, None]).square()
            out[level] = lv.weights[..., None, None] * torch.exp(-(dy + dx) / s) + EPS
        return out

    def sample_layouts(self, batch: int, seed: int | torch.Generator | None = None) -> HeatmapBatch:
        """Layouts drawn as EqGAN-SA's generator draws them for itself: the same distributions and the same order
        of draws, so seed s gives what its code draws right after `torch.manual_seed(s)`."""
        gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed or 0))
        centers = torch.normal(mean=0, std=0.33, size=(batch, 2), generator=gen).clamp(-0.75, 0.75)  # (y, x)
        sigma = (torch.rand(1, generator=gen).item() + 1.0) * 0.5
        d2 = (torch.rand(batch, 2, 2, generator=gen) - 0.5) * 0.8
        d3 = (torch.rand(batch, 2, 4, generator=gen) - 0.5) * 1.6
        s2 = (torch.rand(batch, 1, 1, 2, generator=gen) + 0.1) / 1.4
        s3 = (torch.rand(batch, 1, 1, 4, generator=gen) + 0.1) / 2
        return self.layout_from_grid(centers, sigma, d2, d3, s2, s3)

    def layout_from_grid(self, centers: torch.Tensor, sigma: float, l2_delta: torch.Tensor, l3_delta: torch.Tensor,
                         cur_sigma2: torch.Tensor, cur_sigma3: torch.Tensor) -> HeatmapBatch:
        """A batch from EqGAN-SA's own layout parameters (`generate_heatmap_multi`'s arguments)."""
        b = centers.shape[0]
        yx = [centers[:, :, None], centers[:, :, None] + l2_delta, centers[:, :, None] + l3_delta]  # (B, 2, n)
        widths = [torch.full((b, 1), float(sigma)), cur_sigma2.reshape(b, -1), cur_sigma3.reshape(b, -1)]
        levels = [HeatmapLevel(self._from_grid(p.flip(1).transpose(1, 2)), self._sigma(w), torch.ones_like(w))
                  for p, w in zip(yx, widths)]
        return HeatmapBatch("hierarchical", levels, [list(p) for p in PARENTS])

    def default_layout(self, seed: int) -> HeatmapSpec:
        return HeatmapSpec.from_batch(self.sample_layouts(1, seed))

    def check_layout(self, spec: HeatmapSpec) -> None:
        spec.validate()
        if spec.mode != "hierarchical" or [len(lv) for lv in spec.levels] != list(CENTRES):
            raise HeatmapSpecError(f"an EqGAN-SA model takes hierarchical heatmaps with 1/2/4 centres, got "
                                   f"{spec.mode} with {[len(lv) for lv in spec.levels]}")
