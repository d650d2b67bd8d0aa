"""StyleGAN2 building blocks in pure PyTorch: equalised-lr layers, modulated convolution, noise.

Equalised learning rate (Karras et al.): weights are stored N(0, 1) and scaled at run time by He's
constant, so Adam sees every layer at the same scale. Each layer has one forward, the straightforward one that
training differentiates; `spatialgan.fused` turns a trained generator into the same function with the constants
folded into its weights, for inference.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

NoiseMode = Literal["random", "const", "none"]
SQRT2 = math.sqrt(2.0)


def lrelu(x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Leaky ReLU (slope 0.2) with StyleGAN2's sqrt(2) gain, after an optional per-channel bias."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, 0.2) * SQRT2


def upsample2x(x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    # Bilinear x2 with half-pixel centres is StyleGAN2's [1, 3, 3, 1] upsampling filter.
    if channels_last:
        # On CPU the NCHW kernel copies its input twice for wide feature maps; the channels-last kernel is
        # 2-10x faster there, and the convolutions that follow accept (and keep) that layout.
        x = x.contiguous(memory_format=torch.channels_last)
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


class EqualLinear(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init) / lr_mul))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(y) if self.activate else y


class EqualConv2d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, bias: bool = True, activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.padding = kernel // 2
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.scale
        if self.activate:
            return lrelu(F.conv2d(x, w, padding=self.padding), self.bias)
        return F.conv2d(x, w, self.bias, padding=self.padding)


class ModulatedConv2d(nn.Module):
    """Conv whose input channels are scaled by a style s, then demodulated to unit output variance.

    `styles` is (B, C_in) as in StyleGAN2, or (B, C_in, H, W) for a spatially varying style (SEL_indoor,
    Eq. 3). Modulating the input instead of the weights gives the same result for a global style, one code
    path for both cases, and no per-sample grouped convolution.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, demodulate: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.padding = kernel // 2
        self.demodulate = demodulate

    def forward(self, x: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.scale
        s = styles[:, :, None, None] if styles.ndim == 2 else styles
        y = F.conv2d(x * s, w, padding=self.padding)
        if self.demodulate:
            w2 = w.square().sum((2, 3))  # (out, in): energy of each input channel's kernel
            if styles.ndim == 2:
                d = torch.rsqrt(styles.square() @ w2.t() + 1e-8)[:, :, None, None]
            else:  # per pixel: the style at that pixel decides the output variance there
                d = torch.rsqrt(torch.einsum("bihw,oi->bohw", styles.square(), w2) + 1e-8)
            y = y * d
        return y


class NoiseInjection(nn.Module):
    """Per-pixel noise with a learned strength; 'const' uses a fixed map stored with the weights, so a
    rendered image is reproducible bit-for-bit from a checkpoint."""

    def __init__(self, res: int) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("const", torch.randn(1, 1, res, res))

    def forward(self, x: torch.Tensor, mode: NoiseMode) -> torch.Tensor:
        if mode == "none":
            return x
        if mode == "const":
            noise = self.const
        else:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        return x + noise * self.strength
