"""StyleGAN2 generator with spatial heatmap encoding (paper Sec. 3.2).

Interfaces follow NVlabs: `mapping(z) -> ws`, `synthesis(ws, heatmaps) -> SynthesisOutput`. Latents carry a
codes axis: ws is (B, K, num_ws, w_dim) with K = 1, or K = n objects + 1 background for SEL_indoor, whose
per-object codes S_i can be edited from outside (`replace_code`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, Protocol

import torch
from torch import nn

from .config import GeneratorConfig
from .encoding import HeatmapEncoder, SELConcat, SELNorm, indoor_styles
from .heatmaps import HeatmapBatch, HeatmapSpec, combine, render_heatmaps, sample_heatmaps
from .layers import EqualLinear, ModulatedConv2d, NoiseInjection, NoiseMode, lrelu, upsample2x
from .model import Capabilities, Panel, draft_costs, draft_resolutions

Heatmaps = Mapping[int, torch.Tensor]  # resolution -> sub-maps (B, n, r, r)


class SynthesisHook(Protocol):
    """Plugs an extension into synthesis between blocks (our carry is one, `spatialgan.carry.CarryHook`); the core
    only calls it. `begin` may replace the inputs (e.g. widen the batch), `after_block` the running state."""

    def begin(self, ws: torch.Tensor, heatmaps: Heatmaps | None) -> tuple[torch.Tensor, Heatmaps | None]: ...

    def after_block(self, index: int, x: torch.Tensor, img: torch.Tensor, ws: torch.Tensor, heatmaps: Heatmaps | None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Heatmaps | None]: ...


@dataclass
class SynthesisOutput:
    image: torch.Tensor  # (B, C, R, R), roughly in [-1, 1]
    features: dict[int, torch.Tensor] = field(default_factory=dict)  # block resolution -> block output


class MappingNetwork(nn.Module):
    """z -> w through an MLP; tracks the mean w for the truncation trick."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        dims = [cfg.z_dim] + [cfg.w_dim] * cfg.mapping_layers
        self.layers = nn.Sequential(*[EqualLinear(a, b, lr_mul=cfg.mapping_lr_mul, activate=True)
                                      for a, b in zip(dims[:-1], dims[1:])])
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))
        self.w_avg_beta = cfg.w_avg_beta

    def forward(self, z: torch.Tensor, psi: float = 1.0, update_w_avg: bool = False) -> torch.Tensor:
        """z: (..., z_dim) -> w: (..., w_dim), truncated towards the mean w by psi."""
        z = z * torch.rsqrt(z.square().mean(-1, keepdim=True) + 1e-8)  # normalise the 2nd moment
        w = self.layers(z)
        if update_w_avg:
            batch_mean = w.detach().reshape(-1, w.shape[-1]).mean(0)
            self.w_avg.copy_(batch_mean.lerp(self.w_avg, self.w_avg_beta))
        if psi != 1.0:
            w = self.w_avg.to(w.dtype).lerp(w, psi)  # autocast maps in bfloat16; the mean w is float32
        return w


class SynthesisLayer(nn.Module):
    """[upsample] -> [SEL] -> modulated conv -> noise -> bias + lrelu."""

    def __init__(self, in_ch: int, out_ch: int, res: int, cfg: GeneratorConfig, up: bool, sel: nn.Module | None):
        super().__init__()
        self.up = up
        self.sel = sel
        self.affine = EqualLinear(cfg.w_dim, in_ch, bias_init=1.0)
        self.conv = ModulatedConv2d(in_ch, out_ch, 3)
        self.noise = NoiseInjection(res)
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: torch.Tensor, w: torch.Tensor, heat: torch.Tensor | None, sub_maps: torch.Tensor | None,
                noise_mode: NoiseMode) -> torch.Tensor:
        if self.up:
            x = upsample2x(x)
        if self.sel is not None:
            x = self.sel(x, heat)
        x = self.conv(x, indoor_styles(self.affine(w), sub_maps))
        return lrelu(self.noise(x, noise_mode), self.bias)


class ToRGB(nn.Module):
    def __init__(self, in_ch: int, cfg: GeneratorConfig, sel: nn.Module | None) -> None:
        super().__init__()
        self.sel = sel
        self.affine = EqualLinear(cfg.w_dim, in_ch, bias_init=1.0)
        self.conv = ModulatedConv2d(in_ch, cfg.img_channels, 1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(cfg.img_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, heat: torch.Tensor | None,
                sub_maps: torch.Tensor | None) -> torch.Tensor:
        if self.sel is not None:
            x = self.sel(x, heat)
        return self.conv(x, indoor_styles(self.affine(w), sub_maps)) + self.bias.view(1, -1, 1, 1)


class SynthesisBlock(nn.Module):
    """One resolution: (const input | upsampling conv) -> conv -> toRGB added to the upsampled skip image."""

    def __init__(self, res: int, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.res = res
        out_ch = cfg.channels(res)
        encoded = cfg.encoding in ("sel_norm", "sel_concat") and res in cfg.heatmap.levels
        self.heat_encoder = HeatmapEncoder(cfg.heatmap_features) if encoded else None

        def sel(ch: int) -> nn.Module | None:
            if not encoded:
                return None
            if cfg.encoding == "sel_norm":
                return SELNorm(ch, cfg.heatmap_features, cfg.sel_hidden)
            return SELConcat(ch, cfg.heatmap_features)

        if res == 4:
            self.const = nn.Parameter(torch.randn(1, out_ch, 4, 4))
            self.layers = nn.ModuleList([SynthesisLayer(out_ch, out_ch, res, cfg, up=False, sel=sel(out_ch))])
        else:
            in_ch = cfg.channels(res // 2)
            self.layers = nn.ModuleList([
                SynthesisLayer(in_ch, out_ch, res, cfg, up=True, sel=sel(in_ch)),
                SynthesisLayer(out_ch, out_ch, res, cfg, up=False, sel=sel(out_ch)),
            ])
        self.torgb = ToRGB(out_ch, cfg, sel(out_ch))

    @property
    def num_ws(self) -> int:
        """w vectors consumed by the convs (the toRGB shares the next block's first one)."""
        return len(self.layers)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                heatmaps: Heatmaps | None, noise_mode: NoiseMode) -> tuple[torch.Tensor, torch.Tensor]:
        """ws: (B, K, num_ws + 1, w_dim) for this block's convs and toRGB."""
        heat = sub_maps = None
        if self.heat_encoder is not None:
            heat = self.heat_encoder(combine(heatmaps[self.res]))
        elif ws.shape[1] > 1:  # SEL_indoor: every layer is modulated by the sub-maps
            sub_maps = heatmaps[self.res]
        if x is None:
            x = self.const.expand(ws.shape[0], -1, 4, 4)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, :, i], heat, sub_maps, noise_mode)
        y = self.torgb(x, ws[:, :, len(self.layers)], heat, sub_maps)
        img = y if img is None else upsample2x(img) + y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.ModuleList([SynthesisBlock(r, cfg) for r in cfg.block_resolutions])

    @property
    def block_resolutions(self) -> list[int]:
        return list(self.cfg.block_resolutions)

    @property
    def heatmap_resolutions(self) -> list[int]:
        """Resolutions at which `forward` needs sub-maps: the encoded levels, or every block for SEL_indoor."""
        if not self.cfg.uses_heatmaps:
            return []
        if self.cfg.encoding == "sel_indoor":
            return list(self.cfg.block_resolutions)
        return list(self.cfg.heatmap.levels)

    def forward(self, ws: torch.Tensor, heatmaps: Heatmaps | None = None, noise_mode: NoiseMode = "const",
                feature_resolutions: Iterable[int] = ()) -> SynthesisOutput:
        """ws: (B, K, num_ws, w_dim); heatmaps: resolution -> sub-maps (B, n, r, r); feature_resolutions: blocks
        whose output features to return (DragGAN's feature tap). Editors render through `spatialgan.render`."""
        self.check_inputs(ws, heatmaps)
        wanted = set(feature_resolutions)
        self.check_blocks(wanted)
        features: dict[int, torch.Tensor] = {}
        img = None
        for _, res, x, img in self.iter_blocks(ws, heatmaps, noise_mode):
            if res in wanted:
                features[res] = x.contiguous()  # a fused copy may run channels-last on CPU
        assert img is not None
        return SynthesisOutput(img.contiguous(), features)

    def check_inputs(self, ws: torch.Tensor, heatmaps: Heatmaps | None) -> None:
        """Raise ValueError naming what is wrong with ws or the sub-maps."""
        cfg = self.cfg
        if ws.ndim != 4 or ws.shape[1:] != (cfg.num_codes, cfg.num_ws, cfg.w_dim):
            raise ValueError(f"ws must have shape (B, {cfg.num_codes}, {cfg.num_ws}, {cfg.w_dim}), "
                             f"got {tuple(ws.shape)}")
        self.check_heatmaps(heatmaps, ws.shape[0])

    def check_blocks(self, resolutions: Iterable[int]) -> None:
        unknown = set(resolutions) - set(self.cfg.block_resolutions)
        if unknown:
            raise ValueError(f"no synthesis block at resolution(s) {sorted(unknown)}; "
                             f"blocks are {self.cfg.block_resolutions}")

    def iter_blocks(self, ws: torch.Tensor, heatmaps: Heatmaps | None, noise_mode: NoiseMode = "const",
                    start: int = 0, x: torch.Tensor | None = None, img: torch.Tensor | None = None,
                    hook: SynthesisHook | None = None) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]:
        """Run the blocks from index `start` (continuing from that block's inputs `x`, `img`), yielding
        (index, resolution, features, image so far) after each; unchecked inputs (see `forward`). DragGAN stops
        at its feature tap and runs the rest only when the image is shown. A `hook` sees the inputs before the
        first block and the state after each block (what it returns goes on)."""
        if hook is not None:
            ws, heatmaps = hook.begin(ws, heatmaps)
        idx = sum(bl.num_ws for bl in self.blocks[:start])
        for i in range(start, len(self.blocks)):
            block = self.blocks[i]
            x, img = block(x, img, ws[:, :, idx: idx + block.num_ws + 1], heatmaps, noise_mode)
            idx += block.num_ws
            if hook is not None:
                x, img, ws, heatmaps = hook.after_block(i, x, img, ws, heatmaps)
            yield i, block.res, x, img

    def check_heatmaps(self, heatmaps: Heatmaps | None, batch: int) -> None:
        needed = self.heatmap_resolutions
        if not needed:
            return
        if heatmaps is None:
            raise ValueError(f"this generator (encoding {self.cfg.encoding!r}) needs heatmaps at {needed}")
        n = self.cfg.heatmap.num_objects if self.cfg.encoding == "sel_indoor" else None
        for r in needed:
            h = heatmaps.get(r)
            if h is None:
                raise ValueError(f"missing heatmap at resolution {r} (needed: {needed})")
            if h.ndim != 4 or h.shape[0] != batch or h.shape[2:] != (r, r) or (n is not None and h.shape[1] != n):
                raise ValueError(f"heatmap at resolution {r} must be (B={batch}, {n or 'n'}, {r}, {r}), "
                                 f"got {tuple(h.shape)}")


class Generator(nn.Module):
    """Mapping + synthesis. `forward(z, heatmaps)` is the training path; editors call the two halves."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.config = cfg
        self.mapping_net = MappingNetwork(cfg)
        self.synthesis = SynthesisNetwork(cfg)

    @property
    def heatmap_resolutions(self) -> list[int]:
        return self.synthesis.heatmap_resolutions

    @property
    def attention_levels(self) -> dict[int, int]:
        """Heatmap resolution -> the resolution of D's activation whose GradCAM L_align compares it with."""
        return {r: r for r in self.config.heatmap.levels} if self.config.uses_heatmaps else {}

    @property
    def capabilities(self) -> Capabilities:
        """What this generator offers an editor (`spatialgan.model`)."""
        cfg = self.config
        hm = cfg.heatmap
        layout = None
        panels: tuple[Panel, ...] = ()
        if cfg.uses_heatmaps and hm.mode == "hierarchical":
            layout = "hierarchical"
            panels = tuple(Panel(li, r, n) for li, (r, n) in enumerate(zip(hm.levels, hm.centres_per_level)))
        elif cfg.uses_heatmaps:
            layout = "objects"
            panels = (Panel(None, max(self.heatmap_resolutions), hm.num_objects),)
        indoor = cfg.encoding == "sel_indoor"  # Eq. 3: one style code per object, plus the background's
        drafts = draft_resolutions(cfg.block_resolutions, cfg.resolution)
        heat = {"none": "no heatmaps", "sel_norm": "SEL_norm", "sel_concat": "SEL_concat",
                "sel_indoor": "SEL_indoor, a style code per object"}[cfg.encoding]
        shape = f", {hm.num_objects} objects" if layout == "objects" else (
            f", {'/'.join(map(str, hm.centres_per_level))} centres" if layout else "")
        return Capabilities(
            resolution=cfg.resolution, layout=layout, panels=panels, num_codes=cfg.num_codes,
            restylable=tuple(range(hm.num_objects)) if indoor else (),
            background_code=cfg.num_codes - 1 if indoor else None, class_labels=(),
            tap_blocks=tuple(cfg.block_resolutions), default_tap=max(4, cfg.resolution // 2),
            draft_resolutions=drafts, draft_costs=draft_costs(((b.res, b) for b in self.synthesis.blocks), drafts),
            num_ws=cfg.num_ws, w_dim=cfg.w_dim,
            description=f"StyleGAN2 {cfg.resolution} px, {heat}{shape}")

    def default_layout(self, seed: int) -> HeatmapSpec | None:
        """The heatmaps this generator was trained on, drawn for `seed` (None without heatmaps)."""
        if not self.config.uses_heatmaps:
            return None
        return HeatmapSpec.from_batch(self.sample_layouts(1, seed))

    def seed_ws(self, seed: int, psi: float = 1.0, label: int | None = None) -> torch.Tensor:
        """The ws of `seed`, truncated by `psi`: (1, K, num_ws, w_dim). Our models take no class label."""
        return self.mapping(self.sample_z(1, seed=seed), psi=psi)

    def map_z(self, z: torch.Tensor, psi: float = 1.0, label: int | None = None) -> torch.Tensor:
        """z (B, K, z_dim) -> ws (B, K, num_ws, w_dim), the interface every model shares (no class labels here)."""
        return self.mapping(z, psi=psi)

    def mean_ws(self) -> torch.Tensor:
        """The tracked mean w in every code and layer: (1, K, num_ws, w_dim), where inversions start."""
        cfg = self.config
        return self.mapping_net.w_avg.reshape(1, 1, 1, -1).expand(1, cfg.num_codes, cfg.num_ws, -1).clone()

    def sample_layouts(self, batch: int, seed: int | torch.Generator | None = None) -> HeatmapBatch:
        """`batch` layouts drawn as in training (the paper's statistics, Sec. 3.2 and 4.1)."""
        return sample_heatmaps(self.config.heatmap, batch, seed)

    def check_layout(self, spec: HeatmapSpec) -> None:
        """Raise `HeatmapSpecError` unless `spec` is a layout this generator takes."""
        spec.validate(self.config)

    def restyle(self, ws: torch.Tensor, index: int, seed: int, psi: float = 1.0) -> torch.Tensor:
        """ws with code `index` drawn afresh from `seed` (`resample_code`)."""
        return resample_code(self, ws, index, seed, psi)

    def z_shape(self, batch: int) -> tuple[int, int, int]:
        return batch, self.config.num_codes, self.config.z_dim

    def sample_z(self, batch: int, seed: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(self.z_shape(batch), generator=gen)
        return z.to(device if device is not None else self.synthesis.blocks[0].const.device)

    def mapping(self, z: torch.Tensor, psi: float = 1.0, update_w_avg: bool = False) -> torch.Tensor:
        """z: (B, K, z_dim), or (B, z_dim) when K == 1 -> ws: (B, K, num_ws, w_dim)."""
        if z.ndim == 2:
            z = z[:, None]
        if z.ndim != 3 or z.shape[1:] != (self.config.num_codes, self.config.z_dim):
            raise ValueError(f"z must have shape (B, {self.config.num_codes}, {self.config.z_dim}), "
                             f"got {tuple(z.shape)}")
        w = self.mapping_net(z, psi=psi, update_w_avg=update_w_avg)
        return w[:, :, None].expand(-1, -1, self.config.num_ws, -1)

    def heatmap_inputs(self, batch: HeatmapBatch) -> dict[int, torch.Tensor]:
        """The sub-maps this generator consumes for a layout (Eq. 1 at each resolution it reads heatmaps at).
        Pictures are drawn through `spatialgan.render`, which calls this."""
        return render_heatmaps(batch, self.heatmap_resolutions)

    def forward(self, z: torch.Tensor, heatmaps: Heatmaps | None = None, psi: float = 1.0,
                noise_mode: NoiseMode = "random", feature_resolutions: Iterable[int] = ()) -> SynthesisOutput:
        ws = self.mapping(z, psi=psi)
        return self.synthesis(ws, heatmaps, noise_mode=noise_mode, feature_resolutions=feature_resolutions)


def build_generator(cfg: GeneratorConfig) -> Generator:
    return Generator(cfg)


def replace_code(ws: torch.Tensor, index: int, new_ws: torch.Tensor) -> torch.Tensor:
    """Copy of ws with code `index` (an object; the last one is the background) replaced: "replace object"
    restyles one object and keeps the rest (Sec. 3.2, Fig. 9c)."""
    if not -ws.shape[1] <= index < ws.shape[1]:
        raise IndexError(f"code index {index} out of range for {ws.shape[1]} codes")
    out = ws.clone()
    out[:, index] = new_ws.reshape(ws.shape[0], *ws.shape[2:]) if new_ws.ndim != 3 else new_ws
    return out


def resample_code(G: Generator, ws: torch.Tensor, index: int, seed: int, psi: float = 1.0) -> torch.Tensor:
    """Draw a fresh latent for one code (object or background) from `seed`, keep every other code."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(ws.shape[0], 1, G.config.z_dim, generator=gen).to(ws.device)
    w = G.mapping_net(z, psi=psi)[:, 0]  # (B, w_dim)
    return replace_code(ws, index, w[:, None].expand(-1, ws.shape[2], -1))
