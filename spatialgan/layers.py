"""StyleGAN2 building blocks in pure PyTorch: equalised-lr layers, modulated convolution, noise.

Equalised learning rate (Karras et al.): weights are stored N(0, 1) and scaled at run time by He's
constant, so Adam sees every layer at the same scale.

Inference fast path: when no gradient has to reach the weights (`weights_frozen`), tensors that depend on
the weights only (scaled weights, the demodulation energies, constants folded into them) are computed once
and cached per module, and the sqrt(2) activation gain and biases are folded into the convolutions. It is
the same function as the straightforward path up to float32 rounding; `reference_path()` switches it off
(tests compare the two).
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator, Literal

import torch
import torch.nn.functional as F
from torch import nn

NoiseMode = Literal["random", "const", "none"]
SQRT2 = math.sqrt(2.0)


_fast_path = True


@contextlib.contextmanager
def reference_path() -> Iterator[None]:
    """Run the straightforward implementation (no caching, no folding) inside this block."""
    global _fast_path
    previous, _fast_path = _fast_path, False
    try:
        yield
    finally:
        _fast_path = previous


def weights_frozen(module: nn.Module) -> bool:
    """True when the fast path may run: it is on and autograd needs no graph to this module's own weights."""
    if not _fast_path:
        return False
    if not torch.is_grad_enabled():
        return True
    return not any(p.requires_grad for p in module.parameters(recurse=False))


def cached(module: nn.Module, name: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """`compute()` (a function of `module`'s own parameters only), recomputed when any of them changed.

    Optimizer steps, `load_state_dict` and in-place edits bump a tensor's version counter; `.to()` and
    `.data =` give it new storage. The cache keeps the parameters' storage alive (detached aliases), so a new
    tensor can never reuse the address of one it remembers.
    """
    params = [p for p in module.parameters(recurse=False)] + [b for b in module.buffers(recurse=False)]
    key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params)
    store: dict[str, tuple[tuple, list[torch.Tensor], torch.Tensor]] = module.__dict__.setdefault("_fast_cache", {})
    hit = store.get(name)
    if hit is not None and hit[0] == key:
        return hit[2]
    with torch.no_grad():
        value = compute().detach()
    store[name] = (key, [p.detach() for p in params], value)
    return value


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
        if weights_frozen(self):
            # The same arithmetic on cached scaled weights: w (mapping, styles) feeds every layer, so it is
            # kept bit-identical rather than folding the activation gain (costs nothing: tiny matrices).
            w = cached(self, "w", lambda: self.weight * self.scale)
            b = cached(self, "b", lambda: self.bias * self.lr_mul)
        else:
            w, b = self.weight * self.scale, self.bias * self.lr_mul
        y = F.linear(x, w, b)
        return lrelu(y) if self.activate else y


class EqualConv2d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, bias: bool = True, activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.padding = kernel // 2
        self.activate = activate

    def folded(self, gain: float = 1.0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Cached weight and bias of `gain * conv(x)` (gain sqrt(2) when the layer is activated)."""
        g = gain * (SQRT2 if self.activate else 1.0)
        w = cached(self, f"w{g}", lambda: self.weight * (self.scale * g))
        b = cached(self, f"b{g}", lambda: self.bias * g) if self.bias is not None else None
        return w, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if weights_frozen(self):
            w, b = self.folded()
            y = F.conv2d(x, w, b, padding=self.padding)
            return F.leaky_relu(y, 0.2) if self.activate else y
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

    def fast(self, x: torch.Tensor, codes: torch.Tensor, sub_maps: torch.Tensor | None, gain: float = 1.0,
             bias: torch.Tensor | None = None) -> torch.Tensor:
        """`gain * forward(x, indoor_styles(codes, sub_maps)) + bias` (bias: (C_out,) or None) without building
        per-pixel demodulation from scratch; for frozen weights (inference, or gradients to ws/heatmaps only).

        codes: (B, K, C_in). K == 1 is a global style; K > 1 is SEL_indoor (Eq. 3) with sub_maps (B, K-1, H, W).
        """
        w = cached(self, "w", lambda: self.weight * self.scale)
        w2 = cached(self, "w2", lambda: (self.weight * self.scale).square().sum((2, 3)))  # (out, in)
        B, K, _ = codes.shape
        if K == 1:
            s = codes[:, 0]
            d = torch.rsqrt(s.square() @ w2.t() + 1e-8) * gain if self.demodulate else None  # (B, out)
            hw = x.shape[2] * x.shape[3]
            if B == 1 and w.numel() <= (w.shape[0] + w.shape[1]) * hw:
                # one sample: folding s and d into the (small) weight beats two passes over the activations
                wm = w * s[0, None, :, None, None]
                wm = wm * d[0, :, None, None, None] if d is not None else wm * gain
                return F.conv2d(x, wm, bias, padding=self.padding)
            y = F.conv2d(x * s[:, :, None, None], w, padding=self.padding)
            y = y * (d[:, :, None, None] if d is not None else gain)
            return y + bias.view(1, -1, 1, 1) if bias is not None else y
        assert sub_maps is not None and sub_maps.shape[1] == K - 1, (
            "SEL_indoor needs one sub-heatmap per object style code")
        H, W = sub_maps.shape[2:]
        maps = sub_maps.reshape(B, K - 1, H * W)
        # S(x, y) = sum_i S_i H_i(x, y) + S_bg (Eq. 3) as one batched matrix product plus the background
        # Built in x's memory layout: mixed NCHW / channels-last operands make every elementwise op strided.
        cl = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        if cl:  # (B, HW, C) viewed as channels-last (B, C, H, W): no copy
            S = torch.baddbmm(codes[:, -1:, :], maps.transpose(1, 2), codes[:, :-1])
            S = S.view(B, H, W, -1).permute(0, 3, 1, 2)
        else:
            S = torch.baddbmm(codes[:, -1, :, None], codes[:, :-1].transpose(1, 2), maps).view(B, -1, H, W)
        y = F.conv2d(x * S, w, padding=self.padding)
        if self.demodulate:
            # sum_c w2[o, c] S_c(p)^2 with S_c(p) = sum_k s_kc h_k(p) (h_bg = 1) is a quadratic form in the K
            # maps: sum_{k<=l} A[o, kl] h_k(p) h_l(p), A[o, kl] = (2 - [k == l]) sum_c w2[o, c] s_kc s_lc.
            # K(K+1)/2 products per pixel instead of C_in.
            iu = torch.triu_indices(K, K, device=codes.device)
            pairs = codes[:, iu[0]] * codes[:, iu[1]]  # (B, P, C_in)
            pairs = pairs * torch.where(iu[0] == iu[1], 1.0, 2.0).to(codes.dtype)[None, :, None]
            A = (pairs @ w2.t()) / gain**2  # (B, P, out); gain * rsqrt(v + eps) == rsqrt((v + eps) / gain^2)
            h = torch.cat([maps, maps.new_ones(B, 1, H * W)], 1)  # background map is 1 everywhere
            hh = h[:, iu[0]] * h[:, iu[1]]  # (B, P, HW)
            eps = A.new_full((1, 1, 1), 1e-8 / gain**2)
            if cl:
                d = torch.rsqrt(torch.baddbmm(eps, hh.transpose(1, 2), A)).view(B, H, W, -1).permute(0, 3, 1, 2)
            else:
                d = torch.rsqrt(torch.baddbmm(eps, A.transpose(1, 2), hh)).view(B, -1, H, W)
        else:
            d = torch.full((), gain, dtype=y.dtype, device=y.device)
        if bias is None:
            return y * d
        return torch.addcmul(bias.view(1, -1, 1, 1), y, d)


class NoiseInjection(nn.Module):
    """Per-pixel noise with a learned strength; 'const' uses a fixed map stored with the weights, so a
    rendered image is reproducible bit-for-bit from a checkpoint."""

    def __init__(self, res: int) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("const", torch.randn(1, 1, res, res))

    def scaled_const(self, gain: float) -> torch.Tensor:
        """The fixed noise map times strength and `gain`, cached for the fast path."""
        return cached(self, f"const{gain}", lambda: self.const * (self.strength * gain))

    def forward(self, x: torch.Tensor, mode: NoiseMode) -> torch.Tensor:
        if mode == "none":
            return x
        if mode == "const":
            noise = self.const
        else:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        return x + noise * self.strength
