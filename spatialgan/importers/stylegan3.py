"""NVIDIA's StyleGAN3 generator (configs T and R, as in DragGAN's StyleGAN3 models), written from the paper
("Alias-Free Generative Adversarial Networks") and the pickles' structure, computing what the original computes in
float32.

The synthesis network is a Fourier-feature input followed by `num_layers` modulated convolutions and an RGB layer,
each wrapped in a filtered leaky ReLU: upsample (zero insertion and a low-pass FIR filter), leaky ReLU, clamp,
low-pass filter and downsample. The filters are in the pickle (`up_filter`, `down_filter`: separable for config T,
radially symmetric for R); the layer geometry (sampling rates, sizes with margins, up/down factors, padding) follows
from the constructor arguments by the paper's geometric progression of cutoffs, recomputed here. Weights are
pre-normalised before modulation and the input of every layer is scaled by its tracked magnitude.

Its "blocks" for the render path are the layers, numbered 1.. (the input is layer 0): their sizes repeat, so the
numbers, not sizes, name the feature taps. There is no picture before the last layer, hence no drafts.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SpatialGANError
from ..layers import NoiseMode
from ..model import Capabilities
from .stylegan2_ada import FullyConnected, PlainLatents, StyleGAN2Config


def upfirdn(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
            padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative: crop) as (x0, x1, y0, y1), convolve with the FIR filter `f`
    (1D: separable along both axes; 2D; None: identity) times `gain`, and keep every `down`-th sample."""
    b, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros(b, c, h, up, w, up)
        z[:, :, :, 0, :, 0] = x
        x = z.reshape(b, c, h * up, w * up)
    px0, px1, py0, py1 = padding
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    if f is not None:
        f = (f * gain ** (f.ndim / 2)).flip(list(range(f.ndim))).to(x.dtype)
        if f.ndim == 1:
            x = F.conv2d(x, f[None, None, None, :].expand(c, 1, 1, -1), groups=c)
            x = F.conv2d(x, f[None, None, :, None].expand(c, 1, -1, 1), groups=c)
        else:
            x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
    elif gain != 1:
        x = x * gain
    return x[:, :, ::down, ::down] if down > 1 else x


def layer_geometry(img_resolution: int, img_channels: int, channel_base: int = 32768, channel_max: int = 512,
                   num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                   first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                   **ignored: Any) -> dict[str, np.ndarray]:
    """Per layer (0 is the input): cutoff, half-width of the transition band, sampling rate, size and channels, by
    the paper's geometric progression from the first layer's cutoff to the image's Nyquist frequency."""
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    t = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** t
    stopbands = first_stopband * (last_stopband / first_stopband) ** t
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    return {"cutoffs": cutoffs, "half_widths": half_widths, "rates": rates, "sizes": sizes, "channels": channels}


class FourierInput(nn.Module):
    """Fourier features on a grid with margins, rotated and translated by an affine transform of w (and the
    user-specified `transform`), mixed by a trainable matrix."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.size, self.sampling_rate, self.bandwidth = size, sampling_rate, bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnected(w_dim, 4)
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", torch.zeros(channels, 2))
        self.register_buffer("phases", torch.zeros(channels))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        b = w.shape[0]
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)  # (cos, sin, tx, ty) of the inverse rotation and translation
        rot = torch.eye(3, device=w.device).repeat(b, 1, 1)
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        shift = torch.eye(3, device=w.device).repeat(b, 1, 1)
        shift[:, 0, 2], shift[:, 1, 2] = -t[:, 2], -t[:, 3]
        m = rot @ shift @ self.transform[None]
        phases = self.phases[None] + (self.freqs[None] @ m[:, :2, 2:]).squeeze(2)
        freqs = self.freqs[None] @ m[:, :2, :2]
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        half = 0.5 * self.size / self.sampling_rate
        theta = torch.tensor([[half, 0.0, 0.0], [0.0, half, 0.0]], device=w.device)
        grid = F.affine_grid(theta[None], [1, 1, self.size, self.size], align_corners=False)  # (1, H, W, 2)
        x = (grid[:, :, :, None, :] @ freqs.permute(0, 2, 1)[:, None, None]).squeeze(3)  # (B, H, W, C)
        x = torch.sin((x + phases[:, None, None]) * (2 * math.pi)) * amplitudes[:, None, None]
        x = x @ (self.weight / math.sqrt(self.weight.shape[0])).t()
        return x.permute(0, 3, 1, 2)


class AliasFreeLayer(nn.Module):
    def __init__(self, w_dim: int, in_ch: int, out_ch: int, kernel: int, up: int, down: int,
                 padding: tuple[int, int, int, int], is_torgb: bool, conv_clamp: float | None,
                 up_taps: int, down_taps: int, radial: bool) -> None:
        super().__init__()
        self.up, self.down, self.padding, self.is_torgb, self.conv_clamp = up, down, padding, is_torgb, conv_clamp
        self.affine = FullyConnected(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.register_buffer("magnitude_ema", torch.ones([]))
        # the pickles store no tensor for an identity filter (one tap)
        self.register_buffer("up_filter", torch.zeros(up_taps) if up_taps > 1 else None)
        self.register_buffer("down_filter", (torch.zeros(down_taps, down_taps) if radial else torch.zeros(down_taps))
                             if down_taps > 1 else None)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        weight = self.weight
        k = weight.shape[-1]
        if self.is_torgb:
            styles = styles / math.sqrt(weight.shape[1] * k * k)
        else:  # pre-normalised, then demodulated
            weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
            styles = styles * styles.square().mean().rsqrt()
        wm = weight[None] * styles[:, None, :, None, None]
        if not self.is_torgb:
            wm = wm * torch.rsqrt(wm.square().sum((2, 3, 4)) + 1e-8)[:, :, None, None, None]
        wm = wm * self.magnitude_ema.rsqrt()  # the input's tracked magnitude
        b, c = x.shape[:2]
        y = F.conv2d(x.reshape(1, b * c, *x.shape[2:]), wm.reshape(-1, c, k, k), padding=k - 1, groups=b)
        y = y.reshape(b, -1, *y.shape[2:]) + self.bias[None, :, None, None]
        y = upfirdn(y, self.up_filter, up=self.up, padding=self.padding, gain=self.up ** 2)
        if not self.is_torgb:
            y = F.leaky_relu(y, 0.2) * math.sqrt(2)
        if self.conv_clamp is not None:
            y = y.clamp(-self.conv_clamp, self.conv_clamp)
        return upfirdn(y, self.down_filter, down=self.down)


class Synthesis3(nn.Module):
    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, conv_kernel: int = 3,
                 filter_size: int = 6, lrelu_upsampling: int = 2, use_radial_filters: bool = False,
                 conv_clamp: float | None = 256, output_scale: float = 0.25, num_critical: int = 2,
                 **geometry: Any) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels, self.output_scale = \
            w_dim, img_resolution, img_channels, output_scale
        g = layer_geometry(img_resolution, img_channels, num_critical=num_critical, **geometry)
        n = len(g["sizes"]) - 1
        self.num_ws = n + 2
        self.input = FourierInput(w_dim, int(g["channels"][0]), int(g["sizes"][0]), float(g["rates"][0]),
                                  float(g["cutoffs"][0]))
        self.layer_names: list[str] = []
        for i in range(n + 1):
            p, torgb = max(i - 1, 0), i == n
            tmp = max(g["rates"][p], g["rates"][i]) * (1 if torgb else lrelu_upsampling)
            up, down = int(np.rint(tmp / g["rates"][p])), int(np.rint(tmp / g["rates"][i]))
            up_taps = filter_size * up if up > 1 and not torgb else 1
            down_taps = filter_size * down if down > 1 and not torgb else 1
            k = 1 if torgb else conv_kernel
            total = (g["sizes"][i] - 1) * down + 1 - (g["sizes"][p] + k - 1) * up + up_taps + down_taps - 2
            lo = int((total + up) // 2)
            pad = (lo, int(total - lo), lo, int(total - lo))
            radial = use_radial_filters and i < n - num_critical
            name = f"L{i}_{int(g['sizes'][i])}_{int(g['channels'][i])}"
            setattr(self, name, AliasFreeLayer(w_dim, int(g["channels"][p]), int(g["channels"][i]), k, up, down, pad,
                                               torgb, conv_clamp, up_taps, down_taps, radial))
            self.layer_names.append(name)

    @property
    def block_resolutions(self) -> list[int]:
        return list(range(1, len(self.layer_names) + 1))  # layer numbers: sizes repeat

    def _flat(self, ws: torch.Tensor) -> torch.Tensor:
        return ws[:, 0] if ws.ndim == 4 else ws

    def check_inputs(self, ws: torch.Tensor, heatmaps: Mapping[int, torch.Tensor] | None) -> None:
        flat = self._flat(ws)
        if flat.ndim != 3 or flat.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        self.check_heatmaps(heatmaps, ws.shape[0])

    def check_heatmaps(self, heatmaps: Mapping[int, torch.Tensor] | None, batch: int) -> None:
        if heatmaps:
            raise ValueError("this StyleGAN3 model takes no heatmaps")

    def check_blocks(self, resolutions: Iterable[int]) -> None:
        unknown = set(resolutions) - set(self.block_resolutions)
        if unknown:
            raise ValueError(f"no layer {sorted(unknown)}; a StyleGAN3 model's taps are its layers "
                             f"{self.block_resolutions}")

    def iter_blocks(self, ws: torch.Tensor, heatmaps: Mapping[int, torch.Tensor] | None = None,
                    noise_mode: NoiseMode = "const", start: int = 0, x: torch.Tensor | None = None,
                    img: torch.Tensor | None = None, hook: Any = None
                    ) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor | None]]:
        if hook is not None:
            raise SpatialGANError("this model has no heatmaps: nothing to carry")
        flat = self._flat(ws).float()
        if start == 0:
            x = self.input(flat[:, 0])
        last = len(self.layer_names) - 1
        for i in range(start, last + 1):
            x = getattr(self, self.layer_names[i])(x, flat[:, i + 1])
            yield i, i + 1, x, (x * self.output_scale if i == last else None)

    def forward(self, ws: torch.Tensor, noise_mode: NoiseMode = "const", **ignored: Any) -> torch.Tensor:
        """Upstream's call: ws (B, num_ws, w_dim) -> image. StyleGAN3 has no noise inputs."""
        self.check_inputs(ws, None)
        img = None
        for _, _, _, img in self.iter_blocks(ws):
            pass
        assert img is not None
        return img


class StyleGAN3(PlainLatents, nn.Module):
    """A stylegan3 generator (T or R): upstream's `mapping(z, c, truncation_psi, truncation_cutoff)` and
    `synthesis(ws)`, and the editor's interface (`spatialgan.model`): no heatmaps, DragGAN point editing."""

    family = "StyleGAN3"

    def __init__(self, cfg: StyleGAN2Config) -> None:
        super().__init__()
        kw = {k: v for k, v in cfg.synthesis_kwargs.items() if k not in ("num_fp16_res", "magnitude_ema_beta")}
        self._assemble(cfg, Synthesis3(cfg.w_dim, cfg.img_resolution, cfg.img_channels, **kw))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, **ignored: Any) -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation_psi, truncation_cutoff))

    @property
    def capabilities(self) -> Capabilities:
        layers = tuple(self.synthesis.block_resolutions)
        kind = "R" if self.config.synthesis_kwargs.get("use_radial_filters") else "T"
        return Capabilities(
            resolution=self.img_resolution, layout=None, panels=(), num_codes=1, restylable=(), background_code=None,
            class_labels=tuple(f"class {i}" for i in range(self.c_dim)), tap_blocks=layers,
            default_tap=layers[len(layers) // 2], draft_resolutions=(), num_ws=self.num_ws, w_dim=self.w_dim,
            description=f"StyleGAN3-{kind} {self.img_resolution} px" + (f", {self.c_dim} classes" if self.c_dim else ""))
