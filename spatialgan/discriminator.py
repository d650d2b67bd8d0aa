"""Residual StyleGAN2 discriminator, with the block activations GradCAM needs (paper Sec. 3.1, 3.3)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import torch
from torch import nn

from .config import DiscriminatorConfig
from .layers import EqualConv2d, EqualLinear, downsample2x


@dataclass
class DiscriminatorOutput:
    logits: torch.Tensor  # (B,) real/fake scores
    features: dict[int, torch.Tensor] = field(default_factory=dict)  # output resolution -> activation


class DiscriminatorBlock(nn.Module):
    """conv -> downsample -> conv, plus a downsampled 1x1 skip; the sum is scaled by 1/sqrt(2)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_ch, in_ch, 3, activate=True)
        # Down-sampling before the second conv costs a quarter of the FLOPs of conv-then-pool.
        self.conv1 = EqualConv2d(in_ch, out_ch, 3, activate=True)
        self.skip = EqualConv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(downsample2x(self.conv0(x)))
        return (y + self.skip(downsample2x(x))) / math.sqrt(2.0)


def minibatch_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """Append the mean per-group feature std as one channel, so D can see a lack of variety."""
    b, c, h, w = x.shape
    g = max(d for d in range(1, min(group, b) + 1) if b % d == 0)
    y = x.reshape(g, -1, c, h, w)
    y = (y.var(0, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3))  # (b / g,)
    y = y.repeat(g)[:, None, None, None].expand(-1, 1, h, w)
    return torch.cat([x, y], 1)


class Discriminator(nn.Module):
    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = cfg
        r = cfg.resolution
        self.from_rgb = EqualConv2d(cfg.img_channels, cfg.channels(r), 1, activate=True)
        resolutions = [2**i for i in range(int(math.log2(r)), 2, -1)]  # R, R/2, ..., 8
        self.block_out = [res // 2 for res in resolutions]
        self.blocks = nn.ModuleList([DiscriminatorBlock(cfg.channels(res), cfg.channels(res // 2))
                                     for res in resolutions])
        c4 = cfg.channels(4)
        self.conv4 = EqualConv2d(c4 + 1, c4, 3, activate=True)
        self.fc = EqualLinear(c4 * 16, c4, activate=True)
        self.out = EqualLinear(c4, 1)

    def forward(self, img: torch.Tensor, feature_resolutions: Iterable[int] = ()) -> DiscriminatorOutput:
        """img: (B, C, R, R). feature_resolutions: spatial sizes of the activations to return; 4 is the
        final 4x4 conv, larger sizes are the outputs of the residual blocks."""
        cfg = self.config
        if img.ndim != 4 or img.shape[1:] != (cfg.img_channels, cfg.resolution, cfg.resolution):
            raise ValueError(f"images must be (B, {cfg.img_channels}, {cfg.resolution}, {cfg.resolution}), "
                             f"got {tuple(img.shape)}")
        wanted = set(feature_resolutions)
        unknown = wanted - {4, *self.block_out}
        if unknown:
            raise ValueError(f"no discriminator activation at resolution(s) {sorted(unknown)}")
        features: dict[int, torch.Tensor] = {}
        x = self.from_rgb(img)
        for block, res in zip(self.blocks, self.block_out):
            x = block(x)
            if res in wanted:
                features[res] = x
        x = self.conv4(minibatch_stddev(x, cfg.mbstd_group))
        if 4 in wanted:
            features[4] = x
        logits = self.out(self.fc(x.flatten(1)))[:, 0]
        return DiscriminatorOutput(logits, features)

    def observe(self, img: torch.Tensor, feature_resolutions: Iterable[int] = ()) -> DiscriminatorOutput:
        """What GradCAM reads (the interface an imported snapshot's D shares): logits and activations."""
        return self(img, feature_resolutions)


def build_discriminator(cfg: DiscriminatorConfig) -> Discriminator:
    return Discriminator(cfg)
