"""The discriminator of a StyleGAN2-ADA, EqGAN-SA or StyleGAN3 training snapshot (all three train StyleGAN2's D),
written from the pickles' structure and computing upstream's logits in float32.

It is what the paper's attention signal needs: GradCAM of D (Sec. 3.1) on a model's own pictures. `observe` keeps
the activations GradCAM reads, keyed by their resolution: the outputs of blocks b8, b16 and b32 are the 4, 8 and
16 px maps (EqGAN-SA aligns its b8, b16 and b32 heatmaps with exactly these).

Parameter names follow the pickles' module tree (`b32.fromrgb.weight`, `b4.fc.bias`, `mapping.embed.weight`), so a
snapshot's tensors load as they are. Layers, as upstream computes them:

- A conv is equalised (weight / sqrt(fan-in)), then bias, leaky ReLU (slope 0.2) times sqrt(2), and the clamp to
  +-conv_clamp where the network was trained with one (its float16 layers; it applies in float32 too).
- A downsampling 3x3 conv first filters with [1, 3, 3, 1] (zero padding 2), then convolves with stride 2; the 1x1
  skip filters (padding 1) and keeps every second pixel before its conv. Both resnet branches are scaled by
  sqrt(1/2).
- The epilogue appends the minibatch standard deviation (groups of min(group size, batch) pictures, as upstream
  forms them: a batch must divide into them), then conv, dense, dense. A conditional D projects the output onto
  its label embedding, scaled by 1 / sqrt(cmap_dim).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..discriminator import DiscriminatorOutput
from ..errors import SpatialGANError
from .stylegan2_ada import ARCHITECTURES, SQRT2, FullyConnected, MappingMLP, _fir, bias_act, fir_filter

HALF = math.sqrt(0.5)


def downsample2x(x: torch.Tensor, kernel: torch.Tensor, pad: int = 1) -> torch.Tensor:
    """The FIR filter with zero padding `pad`, then every second pixel (upstream's downsample2d)."""
    return _fir(x.contiguous(), kernel, (pad, pad), 1.0)[:, :, ::2, ::2]


class DConv(nn.Module):
    """Upstream's Conv2dLayer as D uses it: [2x down] equalised conv, bias, [leaky ReLU], gain, clamp."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, lrelu: bool = True, bias: bool = True,
                 down: bool = False, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.register_buffer("resample_filter", fir_filter())
        self.weight_gain = 1 / math.sqrt(in_ch * kernel ** 2)
        self.lrelu, self.down, self.conv_clamp = lrelu, down, conv_clamp

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w, k = self.weight * self.weight_gain, self.weight.shape[-1]
        if not self.down:
            y = F.conv2d(x, w, padding=k // 2)
        elif k == 1:
            y = F.conv2d(downsample2x(x, self.resample_filter), w)
        else:  # pad (kernel + filter taps - 2) / 2 once, filter, then a stride-2 conv without padding
            y = F.conv2d(_fir(x, self.resample_filter, (k // 2 + 1, k // 2 + 1), 1.0), w, stride=2)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(y, self.bias, self.lrelu, (SQRT2 if self.lrelu else 1.0) * gain, clamp)


class DBlock(nn.Module):
    """One resolution: [fromrgb] conv0, downsampling conv1 [+ the 1x1 skip path]; the picture itself is
    downsampled alongside in the skip architecture."""

    def __init__(self, in_ch: int, tmp_ch: int, out_ch: int, img_channels: int, architecture: str,
                 conv_clamp: float | None) -> None:
        super().__init__()
        self.in_ch, self.architecture = in_ch, architecture
        self.register_buffer("resample_filter", fir_filter())
        if in_ch == 0 or architecture == "skip":
            self.fromrgb = DConv(img_channels, tmp_ch, 1, conv_clamp=conv_clamp)
        self.conv0 = DConv(tmp_ch, tmp_ch, 3, conv_clamp=conv_clamp)
        self.conv1 = DConv(tmp_ch, out_ch, 3, down=True, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = DConv(tmp_ch, out_ch, 1, lrelu=False, bias=False, down=True)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.in_ch == 0 or self.architecture == "skip":
            assert img is not None
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = downsample2x(img, self.resample_filter) if self.architecture == "skip" else None
        assert x is not None
        if self.architecture == "resnet":
            return self.skip(x, HALF) + self.conv1(self.conv0(x), HALF), img
        return self.conv1(self.conv0(x)), img


def minibatch_std(x: torch.Tensor, group_size: int | None, channels: int) -> torch.Tensor:
    """Append the feature standard deviation over groups of pictures as `channels` new channels."""
    n, c, h, w = x.shape
    g = n if group_size is None else min(group_size, n)
    if n % g:
        raise SpatialGANError(f"this discriminator compares pictures in groups of {g}: a batch of {n} does not "
                              f"divide into them (use a multiple of {g}, or one picture)")
    y = x.reshape(g, -1, channels, c // channels, h, w)
    y = (y - y.mean(0)).square().mean(0)
    y = (y + 1e-8).sqrt().mean((2, 3, 4)).reshape(-1, channels, 1, 1)
    return torch.cat([x, y.repeat(g, 1, h, w)], 1)


class Epilogue(nn.Module):
    """The 4x4 end: [fromrgb], minibatch std, conv, dense, dense to one logit (or to the label projection)."""

    def __init__(self, channels: int, cmap_dim: int, img_channels: int, architecture: str,
                 conv_clamp: float | None, mbstd_group_size: int | None = 4, mbstd_num_channels: int = 1,
                 activation: str = "lrelu") -> None:
        super().__init__()
        if activation != "lrelu":
            raise SpatialGANError(f"discriminator activation {activation!r} is not supported (only lrelu)")
        self.architecture, self.cmap_dim = architecture, cmap_dim
        self.group, self.mbstd_channels = mbstd_group_size, mbstd_num_channels
        if architecture == "skip":
            self.fromrgb = DConv(img_channels, channels, 1)
        self.conv = DConv(channels + mbstd_num_channels, channels, 3, conv_clamp=conv_clamp)
        self.fc = FullyConnected(channels * 16, channels, lrelu=True)
        self.out = FullyConnected(channels, cmap_dim or 1)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, cmap: torch.Tensor | None) -> torch.Tensor:
        if self.architecture == "skip":
            assert img is not None
            x = x + self.fromrgb(img)
        if self.mbstd_channels > 0:
            x = minibatch_std(x, self.group, self.mbstd_channels)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim > 0:
            assert cmap is not None
            x = (x * cmap).sum(1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


@dataclass(frozen=True)
class DiscriminatorConfig:
    """The constructor arguments of upstream's Discriminator, as its pickle records them."""

    c_dim: int
    img_resolution: int
    img_channels: int
    architecture: str = "resnet"
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = None
    cmap_dim: int | None = None
    mapping_kwargs: dict = field(default_factory=dict)
    epilogue_kwargs: dict = field(default_factory=dict)
    num_fp16_res: int = 0  # kept for the record: everything here runs in float32


class ImportedDiscriminator(nn.Module):
    """StyleGAN2's discriminator: `forward(img, c=None)` -> logits (B, 1), as upstream's `D(img, c)`."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        if cfg.architecture not in ARCHITECTURES:
            raise SpatialGANError(f"discriminator architecture {cfg.architecture!r} is not supported "
                                  f"({ARCHITECTURES})")
        self.config = cfg
        self.c_dim, self.img_resolution, self.img_channels = cfg.c_dim, cfg.img_resolution, cfg.img_channels
        self.block_resolutions = [2 ** i for i in range(int(math.log2(cfg.img_resolution)), 2, -1)]
        ch = {r: min(cfg.channel_base // r, cfg.channel_max) for r in self.block_resolutions + [4]}
        cmap_dim = 0 if cfg.c_dim == 0 else (ch[4] if cfg.cmap_dim is None else cfg.cmap_dim)
        for r in self.block_resolutions:
            setattr(self, f"b{r}", DBlock(ch[r] if r < cfg.img_resolution else 0, ch[r], ch[r // 2],
                                          cfg.img_channels, cfg.architecture, cfg.conv_clamp))
        if cfg.c_dim > 0:
            self.mapping = MappingMLP(0, cfg.c_dim, cmap_dim, None, w_avg_beta=None, **cfg.mapping_kwargs)
        self.b4 = Epilogue(ch[4], cmap_dim, cfg.img_channels, cfg.architecture, cfg.conv_clamp, **cfg.epilogue_kwargs)

    @property
    def feature_resolutions(self) -> list[int]:
        """The resolutions `observe` can keep: each block's output (the last block's is 4 px)."""
        return [r // 2 for r in self.block_resolutions]

    def _check(self, img: torch.Tensor, c: torch.Tensor | None) -> None:
        r = self.img_resolution
        if img.ndim != 4 or tuple(img.shape[1:]) != (self.img_channels, r, r):
            raise ValueError(f"images must be (B, {self.img_channels}, {r}, {r}), got {tuple(img.shape)}")
        if self.c_dim and (c is None or tuple(c.shape) != (img.shape[0], self.c_dim)):
            raise ValueError(f"this discriminator is conditional: c must be ({img.shape[0]}, {self.c_dim}) labels")

    def observe(self, img: torch.Tensor, feature_resolutions: Iterable[int] = (), c: torch.Tensor | None = None
                ) -> DiscriminatorOutput:
        """Logits (B,) and the block outputs at `feature_resolutions` (what GradCAM differentiates)."""
        self._check(img, c)
        wanted = set(feature_resolutions)
        unknown = wanted - set(self.feature_resolutions)
        if unknown:
            raise ValueError(f"no discriminator activation at resolution(s) {sorted(unknown)}; it has "
                             f"{self.feature_resolutions}")
        x: torch.Tensor | None = None
        image: torch.Tensor | None = img.float()
        features: dict[int, torch.Tensor] = {}
        for r in self.block_resolutions:
            x, image = getattr(self, f"b{r}")(x, image)
            if r // 2 in wanted:
                features[r // 2] = x
        assert x is not None
        cmap = self.mapping(None, c) if self.c_dim else None
        return DiscriminatorOutput(self.b4(x, image, cmap)[:, 0], features)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, **ignored: Any) -> torch.Tensor:
        return self.observe(img, (), c).logits[:, None]
