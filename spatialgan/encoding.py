"""Spatial encoding layers (paper Sec. 3.2, Fig. 6 and 7)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import EqualConv2d, lrelu

# out = x + gain * conv(SEL(x)): EqGAN-SA's 0.1 keeps early training stable and sets how strongly the heatmaps reach
# the features at the start (other gains: `spatialgan.research`)
SEL_GAIN = 0.1


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

    def __init__(self, channels: int, heat_ch: int = 32, hidden: int = 64, gain: float = SEL_GAIN) -> None:
        super().__init__()
        self.shared = EqualConv2d(heat_ch, hidden, 3, activate=True)
        self.to_sigma = EqualConv2d(hidden, 1, 3)
        self.to_mu = EqualConv2d(hidden, 1, 3)
        self.out = EqualConv2d(channels, channels, 3)
        self.gain = gain

    def forward(self, x: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
        a = self.shared(heat)
        dx = F.instance_norm(x) * (1 + self.to_sigma(a)) + self.to_mu(a)
        return x + self.gain * self.out(lrelu(dx))


class SELConcat(nn.Module):
    """SEL_concat: a conv over the concatenation of feature and processed heatmap, as a residual."""

    def __init__(self, channels: int, heat_ch: int = 32, gain: float = SEL_GAIN) -> None:
        super().__init__()
        self.conv = EqualConv2d(channels + heat_ch, channels, 3)
        self.gain = gain

    def forward(self, x: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
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


def indoor_conv(x: torch.Tensor, codes: torch.Tensor, sub_maps: torch.Tensor, w: torch.Tensor, w2: torch.Tensor,
                padding: int, demodulate: bool, gain: float = 1.0, bias: torch.Tensor | None = None) -> torch.Tensor:
    """A modulated conv under SEL_indoor's style S(x, y) = sum_i S_i H_i(x, y) + S_bg (Eq. 3), times `gain`, plus
    `bias`: the inference form (`spatialgan.fused`) of `ModulatedConv2d(x, indoor_styles(codes, sub_maps))`.

    codes: (B, K, C_in) with the background last; sub_maps: (B, K-1, H, W); w: the scaled conv weight; w2: its
    per-(out, in) energy. The per-pixel demodulation is a quadratic form in the K maps rather than a sum over
    C_in channels, and everything is built in x's memory layout (mixed NCHW / channels-last operands make every
    elementwise op strided).
    """
    B, K, _ = codes.shape
    assert sub_maps.shape[1] == K - 1, "SEL_indoor needs one sub-heatmap per object style code"
    H, W = sub_maps.shape[2:]
    maps = sub_maps.reshape(B, K - 1, H * W)
    cl = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    if cl:  # (B, HW, C) viewed as channels-last (B, C, H, W): no copy
        S = torch.baddbmm(codes[:, -1:, :], maps.transpose(1, 2), codes[:, :-1])
        S = S.view(B, H, W, -1).permute(0, 3, 1, 2)
    else:
        S = torch.baddbmm(codes[:, -1, :, None], codes[:, :-1].transpose(1, 2), maps).view(B, -1, H, W)
    y = F.conv2d(x * S, w, padding=padding)
    if demodulate:
        # sum_c w2[o, c] S_c(p)^2 with S_c(p) = sum_k s_kc h_k(p) (h_bg = 1) is a quadratic form in the K maps:
        # sum_{k<=l} A[o, kl] h_k(p) h_l(p), A[o, kl] = (2 - [k == l]) sum_c w2[o, c] s_kc s_lc.
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
