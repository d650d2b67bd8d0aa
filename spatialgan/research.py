"""Our experiments and the paper's ablations that did not become defaults, kept reproducible apart from the
product path: the shipped models' configs and the editor's render know nothing of them.

A `Variant` says how an experimental model differs from `Generator`:

- heatmap_sampling "independent": every hierarchical level's centres drawn on their own, without the parent
  constraint (Table IV, Non-Hie); "noise": N(0, 1) maps of the heatmaps' shape instead of heatmaps (Gau. Noise).
- const_input "flat": the 4x4 block's input is one learned vector at every position, so position reaches G only
  through the heatmaps and the zero padding (our variant; docs/steering.md).
- sel_gain: SEL_norm / SEL_concat's residual gain, out = x + gain * conv(SEL(x)); EqGAN-SA's 0.1 is the default.

Training builds such a model from its run settings, a checkpoint stores its variant beside the generator config,
and `load_checkpoint` rebuilds it here. Checkpoints written before this split kept these fields in the generator
config; `split_legacy` moves them out.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping, get_args

import torch
from torch import nn

from .config import GeneratorConfig, _from_dict
from .encoding import SEL_GAIN, SELConcat, SELNorm
from .errors import ConfigError
from .generator import Generator
from .heatmaps import HeatmapBatch, sample_heatmaps

HeatmapSampling = Literal["paper", "independent", "noise"]
ConstInput = Literal["learned", "flat"]
HEATMAP_SAMPLINGS: tuple[str, ...] = get_args(HeatmapSampling)
CONST_INPUTS: tuple[str, ...] = get_args(ConstInput)


@dataclass(frozen=True)
class Variant:
    heatmap_sampling: HeatmapSampling = "paper"
    const_input: ConstInput = "learned"
    sel_gain: float = SEL_GAIN

    def __post_init__(self) -> None:
        if self.heatmap_sampling not in HEATMAP_SAMPLINGS:
            raise ConfigError(f"heatmap sampling must be one of {HEATMAP_SAMPLINGS}, got {self.heatmap_sampling!r}")
        if self.const_input not in CONST_INPUTS:
            raise ConfigError(f"const_input must be one of {CONST_INPUTS}, got {self.const_input!r}")
        if not (isinstance(self.sel_gain, (int, float)) and math.isfinite(self.sel_gain) and self.sel_gain > 0):
            raise ConfigError(f"sel_residual_gain must be a positive number, got {self.sel_gain}")

    @property
    def is_default(self) -> bool:
        return self == Variant()

    def check(self, cfg: GeneratorConfig) -> None:
        """Raise `ConfigError` if this variant does not apply to a generator of `cfg`."""
        if self.heatmap_sampling == "independent" and (not cfg.uses_heatmaps or cfg.heatmap.mode != "hierarchical"):
            raise ConfigError("heatmap sampling 'independent' drops the hierarchy, so it needs mode 'hierarchical'")

    def describe(self) -> str:
        parts = []
        if self.heatmap_sampling != "paper":
            parts.append({"independent": "independent levels", "noise": "noise maps"}[self.heatmap_sampling])
        if self.const_input == "flat":
            parts.append("flat 4x4 input")
        if self.sel_gain != SEL_GAIN:
            parts.append(f"SEL gain {self.sel_gain:g}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Variant":
        return _from_dict(cls, data, "variant")


class VariantGenerator(Generator):
    """A `Generator` changed as its `Variant` says (see the module docstring)."""

    def __init__(self, cfg: GeneratorConfig, variant: Variant) -> None:
        variant.check(cfg)
        super().__init__(cfg)
        self.variant = variant
        if variant.const_input == "flat":
            block = self.synthesis.blocks[0]
            block.const = nn.Parameter(torch.randn(1, block.const.shape[1], 1, 1))  # broadcast to 4x4
        for m in self.modules():
            if isinstance(m, (SELNorm, SELConcat)):
                m.gain = variant.sel_gain

    def heatmap_inputs(self, batch: HeatmapBatch) -> dict[int, torch.Tensor]:
        maps = super().heatmap_inputs(batch)
        if self.variant.heatmap_sampling == "noise":  # fresh maps from torch's global generator on every call
            return {r: torch.randn_like(m) for r, m in maps.items()}
        return maps

    def sample_layouts(self, batch: int, seed: int | torch.Generator | None = None) -> HeatmapBatch:
        return sample_heatmaps(self.config.heatmap, batch, seed,
                               independent=self.variant.heatmap_sampling == "independent")


def build(cfg: GeneratorConfig, variant: Variant | None = None) -> Generator:
    """The generator of `cfg`, as `variant` changes it (a plain `Generator` for the default)."""
    if variant is None or variant.is_default:
        return Generator(cfg)
    return VariantGenerator(cfg, variant)


def variant_of(G: Generator) -> Variant:
    return getattr(G, "variant", Variant())


def renders_randomly(G: Generator) -> bool:
    """Whether the render draws random numbers beyond the noise mode (a noise-map model): one captured CUDA graph
    would freeze them."""
    return variant_of(G).heatmap_sampling == "noise"


def split_legacy(data: Mapping[str, Any]) -> tuple[dict[str, Any], Variant]:
    """A generator config dict as written before the split -> (today's config dict, the variant it encoded)."""
    data = dict(data)
    heatmap = dict(data.get("heatmap", {}))
    variant = Variant(heatmap_sampling=heatmap.pop("sampling", "paper"),
                      const_input=data.pop("const_input", "learned"),
                      sel_gain=data.pop("sel_residual_gain", SEL_GAIN))
    if "heatmap" in data:
        data["heatmap"] = heatmap
    return data, variant
