"""NVIDIA's StyleGAN2-ADA generator (stylegan2-ada-pytorch, and the StyleGAN2 pickles DragGAN ships), written from
the paper and the pickles' structure, computing what the original computes in float32.

Parameter and buffer names follow the pickles' module tree (`mapping.fc0.weight`, `synthesis.b8.conv0.affine.bias`,
...), so a pickle's tensors load as they are. What differs from our own generator, and why it matters:

- Modulated convs keep the raw N(0, 1) weight and demodulate it (no equalised-lr gain; demodulation removes it).
- Resampling is an FIR filter ([1, 3, 3, 1]) with zero padding: a 2x upsample inserts zeros, pads (2, 1) and filters;
  an upsampling 3x3 conv is a stride-2 transposed conv followed by the filter with padding (1, 1). Bilinear
  interpolation would differ at the borders.
- Activations are clamped to +-conv_clamp (times the layer's gain) where the network was trained with a clamp
  (its float16 layers); the clamp applies in float32 too.
- Architectures: "skip" (an RGB output per block, summed up the resolutions), "resnet" (a 1x1 upsampled skip path,
  both branches scaled by sqrt(1/2), RGB from the last block only) and "orig" (RGB from the last block only).
- Conditional models embed a one-hot label, normalise it like z and concatenate it to z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SpatialGANError
from ..heatmaps import HeatmapBatch, HeatmapSpec
from ..layers import NoiseMode
from ..model import Capabilities, draft_costs, draft_resolutions

SQRT2 = math.sqrt(2.0)
ARCHITECTURES = ("skip", "resnet", "orig")
HEAT_LEVELS = (8, 16, 32)  # EqGAN-SA's heatmap levels, named after the blocks they are meant for (b8, b16, b32)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def fir_filter(f: Iterable[float] = (1, 3, 3, 1)) -> torch.Tensor:
    """The separable low-pass filter as a normalised 2D kernel (sums to 1)."""
    f1 = torch.as_tensor(list(f), dtype=torch.float32)
    k = f1[:, None] * f1[None, :]
    return k / k.sum()


def _layout(x: torch.Tensor) -> torch.memory_format:
    """The memory layout the convs of a batch-1 picture run in: channels-last on a CPU, where oneDNN runs these
    convs 1.5-3x faster (bench/import_latency.py); the outputs stay channels-last, so only the first layer
    converts. Batches (reshaped into groups) and GPUs keep the usual layout."""
    return torch.channels_last if x.device.type == "cpu" and x.shape[0] == 1 else torch.contiguous_format


def _fir(x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int], gain: float) -> torch.Tensor:
    """Zero-pad (before, after) on both axes and convolve every channel with `kernel` * gain."""
    c = x.shape[1]
    fmt = _layout(x) if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    k = (kernel.flip([0, 1]) * gain).to(x.dtype)[None, None].expand(c, 1, *kernel.shape).contiguous(memory_format=fmt)
    if pad[0] == pad[1]:  # the conv pads itself: one pass less
        return F.conv2d(x, k, padding=pad[0], groups=c)
    return F.conv2d(F.pad(x, (pad[0], pad[1], pad[0], pad[1])), k, groups=c)


def upsample2x(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """2x upsampling by zero insertion and the FIR filter (gain 4 keeps the mean)."""
    b, c, h, w = x.shape
    z = x.new_zeros(b, c, h, 2, w, 2)
    z[:, :, :, 0, :, 0] = x
    kh = kernel.shape[0]
    return _fir(z.reshape(b, c, 2 * h, 2 * w), kernel, ((kh + 1) // 2, (kh - 2) // 2), 4.0)


def bias_act(x: torch.Tensor, bias: torch.Tensor | None, lrelu: bool, gain: float, clamp: float | None) -> torch.Tensor:
    """x + bias, then leaky ReLU (slope 0.2) if asked, times `gain`, clamped to +-clamp if given."""
    if bias is not None:
        x = x + bias.reshape(1, -1, *([1] * (x.ndim - 2)))
    if lrelu:
        x = F.leaky_relu(x, 0.2)
    if gain != 1:
        x = x * gain
    return x.clamp(-clamp, clamp) if clamp is not None else x


class FullyConnected(nn.Module):
    def __init__(self, in_features: int, out_features: int, lrelu: bool = False, lr_multiplier: float = 1.0,
                 bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain, self.bias_gain, self.lrelu = lr_multiplier / math.sqrt(in_features), lr_multiplier, lrelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.weight * self.weight_gain, self.bias * self.bias_gain
        if not self.lrelu:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, True, SQRT2, None)


class MappingMLP(nn.Module):
    """z (and a label c) -> w, broadcast to every layer, truncated towards the tracked mean w."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None, activation: str = "lrelu",
                 lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.995) -> None:
        super().__init__()
        if activation != "lrelu":
            raise SpatialGANError(f"mapping activation {activation!r} is not supported (only lrelu, as trained)")
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, c_dim, w_dim, num_ws, num_layers
        embed = 0 if c_dim == 0 else (w_dim if embed_features is None else embed_features)
        width = w_dim if layer_features is None else layer_features
        dims = [z_dim + embed] + [width] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnected(c_dim, embed)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnected(dims[i], dims[i + 1], lrelu=True, lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:  # a discriminator's label embedding keeps no mean
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """-> ws (B, num_ws, w_dim); (B, w_dim) where num_ws is None (a discriminator's label embedding)."""
        parts = []
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"z must be (B, {self.z_dim}), got {None if z is None else tuple(z.shape)}")
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"this model is conditional: c must be (B, {self.c_dim}) one-hot labels")
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, 1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.num_ws is None:
            return x
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cut = self.num_ws if truncation_cutoff is None else truncation_cutoff
            x = torch.cat([self.w_avg.lerp(x[:, :cut], truncation_psi), x[:, cut:]], 1)
        return x


def _up_padding(k: int, up_kernel: torch.Tensor) -> tuple[int, int]:
    """The FIR padding after a stride-2 transposed k x k conv: (1, 1) for 3x3 and 4 taps."""
    kh = up_kernel.shape[0]
    return k // 2 + (kh + 1) // 2 - (k - 1), k // 2 + (kh - 2) // 2 - (k - 2)


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                   up_kernel: torch.Tensor | None = None, gain: float = 1.0,
                   bias: torch.Tensor | None = None) -> torch.Tensor:
    """gain * (the conv of x * styles with the raw weight, demodulated to unit output variance if asked) + bias.
    To draw, the style, demodulation and gain fold into per-sample weights (one grouped conv, as upstream's fused
    path); a pass that will be differentiated modulates the activations instead (`_modulated_activations`). With
    `up_kernel` the conv upsamples 2x: a stride-2 transposed conv, then the FIR filter with padding (1, 1)."""
    b, c, h, wd = x.shape
    if styles.requires_grad or weight.requires_grad:  # a backward pass follows
        return _modulated_activations(x, weight, styles, demodulate, up_kernel, gain, bias)
    w = weight[None] * styles[:, None, :, None, None]  # (B, O, I, k, k)
    if demodulate:
        w = w * (torch.rsqrt(w.square().sum((2, 3, 4)) + 1e-8) * gain)[:, :, None, None, None]
    elif gain != 1:
        w = w * gain
    o, k = weight.shape[0], weight.shape[-1]
    fmt = _layout(x)
    x = x.reshape(1, b * c, h, wd).contiguous(memory_format=fmt)
    bias_b = bias.repeat(b) if bias is not None else None
    if up_kernel is None and k == 1 and fmt == torch.channels_last:
        # a 1x1 conv (toRGB) on a channels-last picture is one matrix product over its pixels; as a conv, torch
        # would first copy the whole input back to the usual layout (a 1x1 weight reads as either layout)
        pixels = x.permute(0, 2, 3, 1).reshape(h * wd, c)  # a view: channels-last memory is pixel-major
        y = torch.addmm(bias_b, pixels, w.reshape(o, c).t()) if bias_b is not None else pixels @ w.reshape(o, c).t()
        return y.reshape(1, h, wd, o).permute(0, 3, 1, 2)
    if up_kernel is None:
        return F.conv2d(x, w.reshape(b * o, c, k, k).contiguous(memory_format=fmt), bias_b, padding=k // 2,
                        groups=b).reshape(b, o, h, wd)
    y = F.conv_transpose2d(x, w.transpose(1, 2).reshape(b * c, o, k, k).contiguous(memory_format=fmt), stride=2,
                           groups=b)
    y = _fir(y.reshape(b, o, *y.shape[2:]), up_kernel, _up_padding(k, up_kernel), 4.0)
    return y + bias.reshape(1, -1, 1, 1) if bias is not None else y


def _modulated_activations(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                           up_kernel: torch.Tensor | None, gain: float, bias: torch.Tensor | None) -> torch.Tensor:
    """`modulated_conv` with the style on the input and the demodulation on the output, around a conv with the
    shared raw weight (upstream's unfused path), for a forward pass that will be differentiated. Where gradients
    flow to the styles but not the weights (a latent being optimised: DragGAN, inversion), the backward pass then
    needs only the conv's input gradient, not the gradient of a per-sample weight, which costs as much as a second
    conv: a DragGAN step costs about a quarter less. Where the weights are tuned too (pivotal tuning), one shared
    weight's gradient still costs less than per-sample ones (bench/inversion.py)."""
    k = weight.shape[-1]
    fmt = _layout(x)
    x = (x * styles[:, :, None, None]).contiguous(memory_format=fmt)
    if up_kernel is None:
        y = F.conv2d(x, weight.contiguous(memory_format=fmt), padding=k // 2)
    else:
        y = F.conv_transpose2d(x, weight.transpose(0, 1).contiguous(memory_format=fmt), stride=2)
        y = _fir(y, up_kernel, _up_padding(k, up_kernel), 4.0)
    if demodulate:  # each output channel's energy under these styles, as the folded weight's would be
        scale = torch.rsqrt(styles.square() @ weight.square().sum((2, 3)).t() + 1e-8) * gain
        y = y * scale[:, :, None, None]
    elif gain != 1:
        y = y * gain
    return y + bias.reshape(1, -1, 1, 1) if bias is not None else y


class Conv(nn.Module):
    """A plain equalised-lr conv (EqGAN-SA's heatmap convs and SEL): conv, bias, [leaky ReLU], gain."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, lrelu: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.register_buffer("resample_filter", fir_filter())  # unused (no resampling); kept as pickled
        self.weight_gain, self.lrelu = 1 / math.sqrt(in_ch * kernel * kernel), lrelu

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        y = F.conv2d(x, self.weight * self.weight_gain, padding=self.weight.shape[-1] // 2)
        return bias_act(y, self.bias, self.lrelu, (SQRT2 if self.lrelu else 1.0) * gain, None)


class SpatialEncoding(nn.Module):
    """EqGAN-SA's SEL: the heatmap features, resized to the feature map (bilinear, corners aligned), give a
    per-pixel scale and shift of the instance-normalised features, added back as a residual scaled by 0.1."""

    def __init__(self, channels: int, map_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.shared = nn.Sequential(Conv(map_dim, hidden, lrelu=True))
        self.sigma = Conv(hidden, 1)
        self.mu = Conv(hidden, 1)
        self.output = nn.Sequential(nn.LeakyReLU(0.2), Conv(channels, channels))

    def forward(self, x: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
        heat = F.interpolate(heat, size=x.shape[2:], mode="bilinear", align_corners=True)
        a = self.shared(heat)
        dx = F.instance_norm(x, eps=1e-5) * (1 + self.sigma(a)) + self.mu(a)
        return x + self.output(dx) * 0.1


class StyledConv(nn.Module):
    """[2x up] modulated 3x3 conv -> noise -> bias, leaky ReLU, gain, clamp."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, up: bool,
                 conv_clamp: float | None, sel_map_dim: int | None = None) -> None:
        super().__init__()
        self.resolution, self.up, self.conv_clamp = resolution, up, conv_clamp
        if sel_map_dim is not None:  # EqGAN-SA: heatmaps enter every conv
            self.sel = SpatialEncoding(in_ch, sel_map_dim)
        self.affine = FullyConnected(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.register_buffer("resample_filter", fir_filter())

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: NoiseMode, gain: float = 1.0,
                heat: torch.Tensor | None = None) -> torch.Tensor:
        if hasattr(self, "sel"):
            x = self.sel(x, heat)
        # lrelu(z) * g == lrelu(g * z) for g > 0: the activation gain rides on the weights, the bias and the noise
        g = SQRT2 * gain
        y = modulated_conv(x, self.weight, self.affine(w), True, self.resample_filter if self.up else None, g,
                           self.bias * g)
        inplace = not torch.is_grad_enabled()
        noise = None
        if noise_mode == "const":
            noise = self.noise_const * (self.noise_strength * g)
        elif noise_mode == "random":
            noise = torch.randn(y.shape[0], 1, self.resolution, self.resolution, device=y.device)
            noise = noise * (self.noise_strength * g)
        if noise is not None:
            # in place when drawing: no copy of the largest tensors, and y keeps its channels-last layout (an
            # out-of-place add of the (R, R) noise would hand back the usual layout, to be converted again)
            y = y.add_(noise) if inplace else y + noise
        y = F.leaky_relu(y, 0.2, inplace=inplace)
        if self.conv_clamp is None:
            return y
        c = self.conv_clamp * gain
        return y.clamp_(-c, c) if inplace else y.clamp(-c, c)


class RGBLayer(nn.Module):
    def __init__(self, in_ch: int, img_channels: int, w_dim: int, conv_clamp: float | None,
                 sel_map_dim: int | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        if sel_map_dim is not None:
            self.sel = SpatialEncoding(in_ch, sel_map_dim)
        self.affine = FullyConnected(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1 / math.sqrt(in_ch)

    def forward(self, x: torch.Tensor, w: torch.Tensor, heat: torch.Tensor | None = None) -> torch.Tensor:
        if hasattr(self, "sel"):
            x = self.sel(x, heat)
        y = modulated_conv(x, self.weight, self.affine(w) * self.weight_gain, False, bias=self.bias)
        return y.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else y


class UpSkip(nn.Module):
    """The resnet architecture's skip path: 2x FIR upsampling, then a 1x1 conv without bias."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 1, 1))
        self.register_buffer("resample_filter", fir_filter())
        self.weight_gain = 1 / math.sqrt(in_ch)

    def forward(self, x: torch.Tensor, gain: float) -> torch.Tensor:
        return F.conv2d(upsample2x(x, self.resample_filter), self.weight * (self.weight_gain * gain))


class Block(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, img_channels: int, is_last: bool,
                 architecture: str, conv_clamp: float | None, sel_map_dim: int | None = None) -> None:
        super().__init__()
        self.resolution, self.in_ch, self.architecture = resolution, in_ch, architecture
        self.register_buffer("resample_filter", fir_filter())
        if in_ch == 0:
            self.const = nn.Parameter(torch.randn(out_ch, resolution, resolution))
        else:
            self.conv0 = StyledConv(in_ch, out_ch, w_dim, resolution, True, conv_clamp, sel_map_dim)
        self.conv1 = StyledConv(out_ch, out_ch, w_dim, resolution, False, conv_clamp, sel_map_dim)
        self.has_rgb = is_last or architecture == "skip"
        if self.has_rgb:
            self.torgb = RGBLayer(out_ch, img_channels, w_dim, conv_clamp, sel_map_dim)
        if in_ch != 0 and architecture == "resnet":
            self.skip = UpSkip(in_ch, out_ch)
        self.num_conv = 1 if in_ch == 0 else 2

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, noise_mode: NoiseMode,
                heat: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """ws: (B, num_conv [+ 1 for the RGB layer], w_dim); heat: the heatmap features for SEL layers."""
        if self.in_ch == 0:
            x = self.conv1(self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1), ws[:, 0], noise_mode, heat=heat)
        elif self.architecture == "resnet":
            assert x is not None
            half = math.sqrt(0.5)
            y = self.skip(x, half)
            x = y + self.conv1(self.conv0(x, ws[:, 0], noise_mode, heat=heat), ws[:, 1], noise_mode, gain=half,
                               heat=heat)
        else:
            assert x is not None
            x = self.conv1(self.conv0(x, ws[:, 0], noise_mode, heat=heat), ws[:, 1], noise_mode, heat=heat)
        if img is not None:
            img = upsample2x(img, self.resample_filter)
        if self.has_rgb:
            y = self.torgb(x, ws[:, self.num_conv], heat)
            img = y if img is None else img + y
        return x, img


class Synthesis(nn.Module):
    """ws -> image, block by block. Callable as upstream (`synthesis(ws, noise_mode="const")` -> image) and
    runnable by the render path (`iter_blocks`, the `spatialgan.model.Synthesis` interface)."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, conv_clamp: float | None = None,
                 architecture: str = "skip", use_sel: bool = False, **ignored: Any) -> None:
        super().__init__()
        self.use_sel = use_sel
        if use_sel:  # EqGAN-SA: each level's heatmaps (1, 2, 4 channels) to 32 features at full resolution
            for level, n in zip(HEAT_LEVELS, (1, 2, 4)):
                setattr(self, f"hm_conv0_b{level}", Conv(n, 16, lrelu=True))
                setattr(self, f"hm_conv1_b{level}", Conv(16, 32, lrelu=True))
        if architecture not in ARCHITECTURES:
            raise SpatialGANError(f"synthesis architecture {architecture!r} is not supported ({ARCHITECTURES})")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.resolutions = [2 ** i for i in range(2, int(math.log2(img_resolution)) + 1)]
        ch = {r: min(channel_base // r, channel_max) for r in self.resolutions}
        self.num_ws = 0
        for r in self.resolutions:
            sel = (96 if r > 16 else 32) if use_sel else None  # the features it reads: one level's, or all three
            block = Block(ch[r // 2] if r > 4 else 0, ch[r], w_dim, r, img_channels, r == img_resolution,
                          architecture, conv_clamp, sel)
            setattr(self, f"b{r}", block)
            self.num_ws += block.num_conv + (1 if r == img_resolution else 0)
        self.num_fp16_res = num_fp16_res  # kept for the model card: inference here runs in float32

    @property
    def block_resolutions(self) -> list[int]:
        return list(self.resolutions)

    def blocks(self) -> list[Block]:
        return [getattr(self, f"b{r}") for r in self.resolutions]

    def _flat(self, ws: torch.Tensor) -> torch.Tensor:
        """(B, num_ws, w_dim), from the render path's (B, 1, num_ws, w_dim) too."""
        return ws[:, 0] if ws.ndim == 4 else ws

    def check_inputs(self, ws: torch.Tensor, heatmaps: Mapping[int, torch.Tensor] | None) -> None:
        flat = self._flat(ws)
        if flat.ndim != 3 or flat.shape[1:] != (self.num_ws, self.w_dim) or (ws.ndim == 4 and ws.shape[1] != 1):
            raise ValueError(f"ws must have shape (B, {self.num_ws}, {self.w_dim}) or (B, 1, {self.num_ws}, "
                             f"{self.w_dim}), got {tuple(ws.shape)}")
        self.check_heatmaps(heatmaps, ws.shape[0])

    def check_heatmaps(self, heatmaps: Mapping[int, torch.Tensor] | None, batch: int) -> None:
        if not self.use_sel:
            if heatmaps:
                raise ValueError("this StyleGAN2 model takes no heatmaps")
            return
        r = self.img_resolution
        for level, n in zip(HEAT_LEVELS, (1, 2, 4)):
            h = (heatmaps or {}).get(level)
            if h is None or tuple(h.shape) != (batch, n, r, r):
                raise ValueError(f"heatmaps at level b{level} must be ({batch}, {n}, {r}, {r}), got "
                                 f"{None if h is None else tuple(h.shape)}")

    def heat_features(self, heatmaps: Mapping[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        """Each block's heatmap features: blocks 4, 8 and 16 read level b8, b16 and b32; later blocks all three."""
        half = math.sqrt(0.5)
        f = [getattr(self, f"hm_conv1_b{lv}")(getattr(self, f"hm_conv0_b{lv}")(heatmaps[lv].float()), gain=half)
             for lv in HEAT_LEVELS]
        every = torch.cat(f, 1)
        return {r: f[i] if i < 3 else every for i, r in enumerate(self.resolutions)}

    def check_blocks(self, resolutions: Iterable[int]) -> None:
        unknown = set(resolutions) - set(self.resolutions)
        if unknown:
            raise ValueError(f"no synthesis block at resolution(s) {sorted(unknown)}; blocks are {self.resolutions}")

    def iter_blocks(self, ws: torch.Tensor, heatmaps: Mapping[int, torch.Tensor] | None = None,
                    noise_mode: NoiseMode = "const", start: int = 0, x: torch.Tensor | None = None,
                    img: torch.Tensor | None = None, hook: Any = None
                    ) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]:
        flat = self._flat(ws).float()
        if hook is not None:
            flat, heatmaps = hook.begin(flat, heatmaps)
        feats = self.heat_features(heatmaps) if self.use_sel and heatmaps else {}
        blocks = self.blocks()
        idx = sum(b.num_conv for b in blocks[:start])
        for i in range(start, len(blocks)):
            block = blocks[i]
            x, img = block(x, img, flat[:, idx: idx + block.num_conv + 1], noise_mode, feats.get(block.resolution))
            idx += block.num_conv
            if hook is not None:
                x, img, flat, heatmaps = hook.after_block(i, x, img, flat, heatmaps)
                feats = {r: f[: x.shape[0]] for r, f in feats.items()}  # the carry's second half is gone
            yield i, block.resolution, x, img  # img is None before the last block of resnet / orig models

    def forward(self, ws: torch.Tensor, heatmap: Mapping[Any, torch.Tensor] | None = None,
                noise_mode: NoiseMode = "const", **ignored: Any) -> torch.Tensor:
        """Upstream's call: ws (B, num_ws, w_dim) [and EqGAN-SA's heatmap dict {'b8': (B, 1, R, R), 'b16': ...,
        'b32': ...}] -> image (B, C, R, R) in about [-1, 1]."""
        maps = None
        if heatmap is not None:
            maps = {int(str(k).lstrip("b")): v for k, v in heatmap.items() if str(k).lstrip("b") in ("8", "16", "32")}
        self.check_inputs(ws, maps)
        img = None
        for _, _, _, img in self.iter_blocks(ws, maps, noise_mode):
            pass
        assert img is not None
        return img


@dataclass(frozen=True)
class StyleGAN2Config:
    """The constructor arguments of a stylegan2-ada-pytorch Generator, as its pickle records them."""

    z_dim: int
    c_dim: int
    w_dim: int
    img_resolution: int
    img_channels: int
    mapping_kwargs: dict = field(default_factory=dict)
    synthesis_kwargs: dict = field(default_factory=dict)
    use_sel: bool = False  # EqGAN-SA: spatial encoding layers fed by hierarchical heatmaps


class PlainLatents:
    """What imported generators without heatmaps share in the editor's interface: z drawn as the authors' tools draw
    it for a seed, one-hot labels, w at the mean, and no layout. Needs `z_dim`, `c_dim`, `num_ws` and `mapping`."""

    family = "imported"
    z_dim: int
    c_dim: int
    num_ws: int
    mapping: MappingMLP

    def _assemble(self, cfg: StyleGAN2Config, synthesis: nn.Module) -> None:
        """Set what every imported generator has from its constructor arguments, around its own synthesis."""
        self.config = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        self.synthesis = synthesis
        self.num_ws = synthesis.num_ws
        self.mapping = MappingMLP(cfg.z_dim, cfg.c_dim, cfg.w_dim, self.num_ws, **cfg.mapping_kwargs)
        self.source = ""  # where it was imported from (set by the importer)

    @property
    def heatmap_resolutions(self) -> list[int]:
        return []

    @property
    def attention_levels(self) -> dict[int, int]:
        return {}

    def sample_z(self, batch: int, seed: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
        """z as the upstream tools draw it for a seed (numpy's RandomState), so seed N is their seed N."""
        rng = np.random.RandomState(seed)
        z = torch.from_numpy(rng.randn(batch, self.z_dim)).float()
        return z.to(device if device is not None else self.mapping.w_avg.device)

    def label(self, index: int | None, batch: int = 1) -> torch.Tensor | None:
        """One-hot labels (B, c_dim) of class `index`, or None for an unconditional model."""
        if self.c_dim == 0:
            return None
        if index is None or not 0 <= index < self.c_dim:
            raise SpatialGANError(f"this model is conditional: pick a class between 0 and {self.c_dim - 1}")
        c = torch.zeros(batch, self.c_dim, device=self.mapping.w_avg.device)
        c[:, index] = 1
        return c

    def z_shape(self, batch: int) -> tuple[int, int]:
        return batch, self.z_dim

    def map_z(self, z: torch.Tensor, psi: float = 1.0, label: int | None = None) -> torch.Tensor:
        """z (B, z_dim) -> ws in the render path's shape (B, 1, num_ws, w_dim); class `label` (default 0) for a
        conditional model."""
        c = self.label(0 if label is None and self.c_dim else label, z.shape[0])
        return self.mapping(z.to(self.mapping.w_avg.device), c, truncation_psi=psi)[:, None]

    def seed_ws(self, seed: int, psi: float = 1.0, label: int | None = None) -> torch.Tensor:
        """The ws of `seed` in the render path's shape (1, 1, num_ws, w_dim)."""
        return self.map_z(self.sample_z(1, seed), psi, label)

    def mean_ws(self) -> torch.Tensor:
        return self.mapping.w_avg.reshape(1, 1, 1, -1).expand(1, 1, self.num_ws, -1).clone()

    def heatmap_inputs(self, batch: HeatmapBatch) -> dict[int, torch.Tensor]:
        return {}

    def default_layout(self, seed: int) -> HeatmapSpec | None:
        return None

    def check_layout(self, spec: HeatmapSpec) -> None:
        raise SpatialGANError(f"this {self.family} model has no heatmap centres")

    def restyle(self, ws: torch.Tensor, index: int, seed: int, psi: float = 1.0) -> torch.Tensor:
        raise SpatialGANError(f"this {self.family} model has one style code: change the seed instead")


class StyleGAN2ADA(PlainLatents, nn.Module):
    """A stylegan2-ada-pytorch generator: `mapping(z, c, truncation_psi, truncation_cutoff)` and
    `synthesis(ws, noise_mode)` take the upstream arguments; `capabilities` and the rest are the editor's
    interface (`spatialgan.model`). No heatmaps: DragGAN point editing only."""

    family = "StyleGAN2"

    def __init__(self, cfg: StyleGAN2Config) -> None:
        super().__init__()
        self._assemble(cfg, Synthesis(cfg.w_dim, cfg.img_resolution, cfg.img_channels, use_sel=cfg.use_sel,
                                      **cfg.synthesis_kwargs))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: NoiseMode = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation_psi, truncation_cutoff), noise_mode=noise_mode)

    # ---- the editor's interface (spatialgan.model) ------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        res = self.img_resolution
        kw = self.config.synthesis_kwargs
        labels = tuple(f"class {i}" for i in range(self.c_dim))
        # only the skip architecture has a picture before its last block
        drafts = (draft_resolutions(self.synthesis.resolutions, res) if kw.get("architecture", "skip") == "skip"
                  else ())
        return Capabilities(
            resolution=res, layout=None, panels=(), num_codes=1, restylable=(), background_code=None,
            # DragGAN's own choice: the 128 px block's features (its sixth block) whatever the picture's size. At
            # 1024 px the 256 px block would need half a render's convolutions forward and again backward per step
            class_labels=labels, tap_blocks=tuple(self.synthesis.resolutions), default_tap=min(128, max(4, res // 2)),
            draft_resolutions=drafts, num_ws=self.num_ws, w_dim=self.w_dim,
            draft_costs=draft_costs(((b.resolution, b) for b in self.synthesis.blocks()), drafts),
            description=(f"StyleGAN2-ADA {res} px, {kw.get('architecture', 'skip')}"
                         + (f", {self.c_dim} classes" if self.c_dim else "")))
