"""Spatial encoding layers (paper Sec. 3.2, Fig. 6 and 7)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import SQRT2, EqualConv2d, cached, lrelu, weights_frozen


class HeatmapEncoder(nn.Module):
    """phi's shared trunk: the coarse heatmap of one level (already at the feature resolution) -> features.
    Computed once per level and shared by every SEL of that synthesis block."""

    def __init__(self, out_ch: int = 32) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(1, out_ch // 2, 3, activate=True)
        self.conv1 = EqualConv2d(out_ch // 2, out_ch, 3, activate=True)

    def forward(self, heatmap: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.conv0(heatmap))


class SELNorm(nn.Module):
    """SEL_norm (Eq. 2): phi_sigma(H) * (F - mu(F)) / sigma(F) + phi_mu(H), with a residual connection.

    phi_sigma and phi_mu are point-wise maps of shape (h, w, 1); the result is added back to F through a conv
    scaled by `gain`, which keeps the freshly initialised layer close to identity.
    """

    def __init__(self, channels: int, heat_ch: int = 32, hidden: int = 64, gain: float = 0.1) -> None:
        super().__init__()
        self.shared = EqualConv2d(heat_ch, hidden, 3, activate=True)
        self.to_sigma = EqualConv2d(hidden, 1, 3)
        self.to_mu = EqualConv2d(hidden, 1, 3)
        self.out = EqualConv2d(channels, channels, 3)
        self.gain = gain

    def forward(self, x: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
        if all(weights_frozen(m) for m in (self.shared, self.to_sigma, self.to_mu, self.out)):
            return self._fast(x, heat)
        a = self.shared(heat)
        dx = F.instance_norm(x) * (1 + self.to_sigma(a)) + self.to_mu(a)
        return x + self.gain * self.out(lrelu(dx))

    def _fast(self, x: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
        """Same function, fewer passes: phi_sigma and phi_mu as one two-channel conv, and the lrelu gain
        sqrt(2) and the residual gain folded into the output conv's cached weights."""
        a = self.shared(heat)
        ws, bs = self.to_sigma.folded()
        wm, bm = self.to_mu.folded()
        w_sm = cached(self.to_sigma, "w_sm", lambda: torch.cat([ws, wm]))
        b_sm = cached(self.to_mu, "b_sm", lambda: torch.cat([bs + 1, bm]))  # + 1: the (1 + phi_sigma) scale
        sm = F.conv2d(a, w_sm, b_sm, padding=self.to_sigma.padding)
        dx = torch.addcmul(sm[:, 1:2], F.instance_norm(x), sm[:, 0:1])
        dx = F.leaky_relu(dx, 0.2, inplace=not torch.is_grad_enabled())
        w_out, b_out = self.out.folded(self.gain * SQRT2)
        y = F.conv2d(dx, w_out, None if b_out is None else b_out / SQRT2, padding=self.out.padding)
        return y.add_(x) if not torch.is_grad_enabled() else y + x


class SELConcat(nn.Module):
    """SEL_concat: a conv over the concatenation of feature and processed heatmap, as a residual."""

    def __init__(self, channels: int, heat_ch: int = 32, gain: float = 0.1) -> None:
        super().__init__()
        self.conv = EqualConv2d(channels + heat_ch, channels, 3)
        self.gain = gain

    def forward(self, x: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
        if weights_frozen(self.conv):  # residual gain folded into the cached conv weights
            w, b = self.conv.folded(self.gain)
            y = F.conv2d(torch.cat([x, heat], 1), w, b, padding=self.conv.padding)
            return y.add_(x) if not torch.is_grad_enabled() else y + x
        return x + self.gain * self.conv(torch.cat([x, heat], 1))


def indoor_styles(styles: torch.Tensor, sub_maps: torch.Tensor | None) -> torch.Tensor:
    """SEL_indoor (Eq. 3): S(x, y) = sum_i S_i * H_i(x, y) + S_bg.

    styles: (B, K, C) per-code styles with K = n objects + 1 background (last); with K == 1 the style is
    global, (B, C), as in StyleGAN2. sub_maps: (B, n, H, W). Returns (B, C) or (B, C, H, W).
    """
    if styles.shape[1] == 1:
        return styles[:, 0]
    assert sub_maps is not None and sub_maps.shape[1] == styles.shape[1] - 1, (
        "SEL_indoor needs one sub-heatmap per object style code")
    return torch.einsum("bkc,bkhw->bchw", styles[:, :-1], sub_maps) + styles[:, -1, :, None, None]
