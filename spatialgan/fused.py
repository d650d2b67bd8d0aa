"""The inference fusion pass: `fuse(G)` is a copy of a generator that computes the same function (to float32
rounding) with fewer passes over the activations.

Every synthesis layer is swapped for a fused twin whose weight-only tensors are computed once, here: the
equalised-lr scales, the demodulation energies, the sqrt(2) activation gain folded into the convolutions, biases and
constant noise, SEL_norm's phi_sigma and phi_mu as one two-channel conv, and the residual gains of both SELs.
At batch 1 the style and demodulation fold into the (small) conv weight; SEL_indoor's per-pixel demodulation
(Eq. 3) is a quadratic form in the sub-maps (`encoding.indoor_conv`); upsampling runs channels-last on a CPU.

The copy's weights are frozen: gradients reach ws and the heatmap centres (DragGAN), never the weights. A fused
copy is a snapshot: after the original's weights change (training, tuning), fuse it again. Training differentiates
the original's straightforward layers.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .encoding import HeatmapEncoder, SELConcat, SELNorm, indoor_conv
from .generator import Generator, SynthesisLayer, ToRGB
from .layers import SQRT2, EqualConv2d, EqualLinear, ModulatedConv2d, NoiseMode, lrelu, upsample2x


def _frozen(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone()


class FusedLinear(nn.Module):
    """EqualLinear with its scales applied: the same arithmetic, so styles stay bit-identical."""

    def __init__(self, layer: EqualLinear) -> None:
        super().__init__()
        self.register_buffer("w", _frozen(layer.weight * layer.scale))
        self.register_buffer("b", _frozen(layer.bias * layer.lr_mul))
        self.activate = layer.activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.w, self.b)
        return lrelu(y) if self.activate else y


class FusedConv(nn.Module):
    """`gain * EqualConv2d(x)` as one conv: the activation's sqrt(2) and `gain` live in the weight and bias."""

    def __init__(self, conv: EqualConv2d, gain: float = 1.0, bias_gain: float | None = None) -> None:
        super().__init__()
        g = gain * (SQRT2 if conv.activate else 1.0)
        self.register_buffer("w", _frozen(conv.weight * (conv.scale * g)))
        bias = None if conv.bias is None else _frozen(conv.bias * (g if bias_gain is None else bias_gain))
        self.register_buffer("b", bias)
        self.padding, self.activate = conv.padding, conv.activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.w, self.b, padding=self.padding)
        return F.leaky_relu(y, 0.2) if self.activate else y


class FusedHeatmapEncoder(nn.Module):
    def __init__(self, enc: HeatmapEncoder) -> None:
        super().__init__()
        self.conv0, self.conv1 = FusedConv(enc.conv0), FusedConv(enc.conv1)

    def forward(self, heatmap: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.conv0(heatmap))


class FusedSELNorm(nn.Module):
    """SEL_norm (Eq. 2) with phi_sigma and phi_mu as one two-channel conv (the 1 of `1 + phi_sigma` in its bias),
    and the lrelu gain sqrt(2) and the residual gain folded into the output conv."""

    def __init__(self, sel: SELNorm) -> None:
        super().__init__()
        self.shared = FusedConv(sel.shared)
        ws, wm = (c.weight * c.scale for c in (sel.to_sigma, sel.to_mu))
        self.register_buffer("w_sm", _frozen(torch.cat([ws, wm])))
        self.register_buffer("b_sm", _frozen(torch.cat([sel.to_sigma.bias + 1, sel.to_mu.bias])))
        self.out = FusedConv(sel.out, gain=sel.gain * SQRT2, bias_gain=sel.gain)
        self.padding = sel.to_sigma.padding

    def forward(self, x: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
        sm = F.conv2d(self.shared(heat), self.w_sm, self.b_sm, padding=self.padding)
        dx = torch.addcmul(sm[:, 1:2], F.instance_norm(x), sm[:, 0:1])
        y = self.out(F.leaky_relu(dx, 0.2, inplace=not torch.is_grad_enabled()))
        return y.add_(x) if not torch.is_grad_enabled() else y + x


class FusedSELConcat(nn.Module):
    """SEL_concat with the residual gain folded into the conv."""

    def __init__(self, sel: SELConcat) -> None:
        super().__init__()
        self.conv = FusedConv(sel.conv, gain=sel.gain)

    def forward(self, x: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
        y = self.conv(torch.cat([x, heat], 1))
        return y.add_(x) if not torch.is_grad_enabled() else y + x


def _fuse_sel(sel: nn.Module | None) -> nn.Module | None:
    if sel is None:
        return None
    return FusedSELNorm(sel) if isinstance(sel, SELNorm) else FusedSELConcat(sel)  # type: ignore[arg-type]


class FusedModConv(nn.Module):
    """`gain * ModulatedConv2d(x, styles) + bias` for styles given as codes (B, K, C_in): K == 1 a global style,
    K > 1 SEL_indoor's per-object codes (Eq. 3, `encoding.indoor_conv`)."""

    def __init__(self, conv: ModulatedConv2d) -> None:
        super().__init__()
        w = conv.weight * conv.scale
        self.register_buffer("w", _frozen(w))
        self.register_buffer("w2", _frozen(w.square().sum((2, 3))))  # (out, in): each input channel's energy
        self.padding, self.demodulate = conv.padding, conv.demodulate

    def forward(self, x: torch.Tensor, codes: torch.Tensor, sub_maps: torch.Tensor | None, gain: float = 1.0,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        B, K, _ = codes.shape
        if K > 1:
            assert sub_maps is not None
            return indoor_conv(x, codes, sub_maps, self.w, self.w2, self.padding, self.demodulate, gain, bias)
        w, s = self.w, codes[:, 0]
        d = torch.rsqrt(s.square() @ self.w2.t() + 1e-8) * gain if self.demodulate else None  # (B, out)
        if B == 1 and not s.requires_grad and w.numel() <= (w.shape[0] + w.shape[1]) * x.shape[2] * x.shape[3]:
            # One sample: folding s and d into the (small) weight beats two passes over the activations. Not when
            # the style is being optimised: the folded weight's gradient would cost a second conv backward.
            wm = w * s[0, None, :, None, None]
            wm = wm * d[0, :, None, None, None] if d is not None else wm * gain
            return F.conv2d(x, wm, bias, padding=self.padding)
        y = F.conv2d(x * s[:, :, None, None], w, padding=self.padding)
        y = y * (d[:, :, None, None] if d is not None else gain)
        return y + bias.view(1, -1, 1, 1) if bias is not None else y


class FusedSynthesisLayer(nn.Module):
    """[upsample] -> [SEL] -> modulated conv -> noise -> bias + lrelu, with lrelu's sqrt(2) gain riding on the
    demodulation, the bias and the noise: lrelu(z) * sqrt(2) == leaky_relu(sqrt(2) * z)."""

    def __init__(self, layer: SynthesisLayer) -> None:
        super().__init__()
        self.up, self.sel = layer.up, _fuse_sel(layer.sel)
        self.affine, self.conv = FusedLinear(layer.affine), FusedModConv(layer.conv)
        self.register_buffer("bias", _frozen(layer.bias * SQRT2))
        self.register_buffer("noise_strength", _frozen(layer.noise.strength * SQRT2))
        self.register_buffer("noise_const", _frozen(layer.noise.const * (layer.noise.strength * SQRT2)))

    def forward(self, x: torch.Tensor, w: torch.Tensor, heat: torch.Tensor | None, sub_maps: torch.Tensor | None,
                noise_mode: NoiseMode) -> torch.Tensor:
        if self.up:
            x = upsample2x(x, channels_last=x.device.type == "cpu")
        if self.sel is not None:
            x = self.sel(x, heat)
        y = self.conv(x, self.affine(w), sub_maps, SQRT2, self.bias)
        if noise_mode == "const":
            y = y + self.noise_const
        elif noise_mode == "random":
            noise = torch.randn(y.shape[0], 1, y.shape[2], y.shape[3], device=y.device, dtype=y.dtype)
            y = y + noise * self.noise_strength
        return F.leaky_relu(y, 0.2, inplace=not torch.is_grad_enabled())


class FusedToRGB(nn.Module):
    def __init__(self, torgb: ToRGB) -> None:
        super().__init__()
        self.sel = _fuse_sel(torgb.sel)
        self.affine, self.conv = FusedLinear(torgb.affine), FusedModConv(torgb.conv)
        self.register_buffer("bias", _frozen(torgb.bias))

    def forward(self, x: torch.Tensor, w: torch.Tensor, heat: torch.Tensor | None,
                sub_maps: torch.Tensor | None) -> torch.Tensor:
        if self.sel is not None:
            x = self.sel(x, heat)
        return self.conv(x, self.affine(w), sub_maps, bias=self.bias)


def fuse(G: Generator) -> Generator:
    """A frozen copy of `G` for inference, its synthesis layers fused (see the module docstring); idempotent.
    Other architectures (imported models) are returned as they are, frozen: they have no fused form yet."""
    if getattr(G, "fused", False):
        return G
    if not isinstance(G, Generator):
        return G.eval().requires_grad_(False)
    with torch.no_grad():
        out = copy.deepcopy(G).eval().requires_grad_(False)
        for block in out.synthesis.blocks:
            if block.heat_encoder is not None:
                block.heat_encoder = FusedHeatmapEncoder(block.heat_encoder)
            block.layers = nn.ModuleList([FusedSynthesisLayer(layer) for layer in block.layers])
            block.torgb = FusedToRGB(block.torgb)
    out.fused = True
    return out
