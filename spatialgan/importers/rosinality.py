"""rosinality/stylegan2-pytorch checkpoints (`.pt`): the community's StyleGAN2 models and the `stylegan2-*-config-f.pt`
files DragGAN's PyTorch ports load, opened as this project's StyleGAN2-ADA generator and discriminator.

A checkpoint is `torch.save` of a dict: `g_ema` (the averaged generator's state dict; `g` as a fallback), `d` (the
discriminator), `latent_avg` (the mean w, written by its weight converter) and, from its trainer, optimiser states
and the command-line `args`. It is read with torch's weights-only loader (tensors, plain containers and the
trainer's `argparse.Namespace`; nothing else is built and nothing is run), never with a plain `torch.load`.

Its networks compute what StyleGAN2-ADA's skip generator and resnet discriminator compute, under other names: the
same equalised layers, modulation with bias 1, demodulation, [1, 3, 3, 1] resampling with the same padding, noise
before the bias, leaky ReLU times sqrt(2), and the same minibatch std. So the weights are renamed and reshaped
onto `StyleGAN2ADA`; channel widths and the resolution come from the weights, the channel multiplier with them.
Its registered noise maps (`noises.noise_i`, what `randomize_noise=False` draws) become the constant noise.

Truncation: rosinality's `g([z], truncation=psi, truncation_latent=avg)` moves every layer's w towards `avg`,
w = avg + psi (w - avg), which is our `truncation_psi` with the checkpoint's `latent_avg` as the mean w. Where a
checkpoint has no `latent_avg` (its trainer writes none), the mean is estimated as its `mean_latent` does: the
average w of 4096 random z (seeded here, so the import is reproducible).
"""

from __future__ import annotations

import argparse
import math
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from .discriminator import DiscriminatorConfig
from .netpickle import NetworkPickleError, NoDiscriminator
from .stylegan2_ada import StyleGAN2Config, fir_filter

SUFFIXES = (".pt", ".pth")
MEAN_SAMPLES = 4096


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's dict, through torch's weights-only loader."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"(?:Unsupported global: |unsupported )GLOBAL ([\w.]+)", str(exc))
        if found:
            raise NetworkPickleError(f"{path}: it references {found.group(1)}, which a weights checkpoint has no "
                                     "reason to hold; refusing to open it (nothing from it was run)") from None
        raise NetworkPickleError(f"{path} is not a readable torch checkpoint (truncated or corrupt?)") from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, TypeError, AttributeError) as exc:
        raise NetworkPickleError(f"{path} is not a readable torch checkpoint (truncated or corrupt?): "
                                 f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not isinstance(data, dict):
        raise NetworkPickleError(f"{path} holds a {type(data).__name__}, not a checkpoint's dict")
    return data


def _state(data: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    for key in ("g_ema", "g"):
        state = data.get(key)
        if isinstance(state, dict) and "input.input" in state:
            return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    keys = ", ".join(sorted(map(str, data))) or "nothing"
    raise NetworkPickleError(f"{path} is not a rosinality StyleGAN2 checkpoint: it has no generator (g_ema or g "
                             f"with input.input); it holds {keys}")


def _widths(channels: dict[int, int], path: Path) -> tuple[int, int]:
    """(channel_base, channel_max) with min(base // r, max) == channels[r] at every resolution."""
    top = channels[4]
    base = max([r * c for r, c in channels.items() if c < top] or [top * max(channels)])
    if any(min(base // r, top) != c for r, c in channels.items()):
        raise NetworkPickleError(f"{path}: channel widths {channels} do not follow StyleGAN2's rule")
    return base, top


def _check_kernel(t: torch.Tensor, gain: float, name: str, path: Path) -> None:
    if tuple(t.shape) != (4, 4) or not torch.allclose(t.float(), fir_filter() * gain, atol=1e-6):
        raise NetworkPickleError(f"{path}: {name} is not the [1, 3, 3, 1] filter every StyleGAN2 uses")


def generator(data: dict[str, Any], path: Path) -> tuple[StyleGAN2Config, dict[str, torch.Tensor], bool]:
    """The generator's arguments, its tensors under our names, and whether the checkpoint had a mean w."""
    g = _state(data, path)
    try:
        fcs = sorted(int(m.group(1)) for k in g if (m := re.fullmatch(r"style\.(\d+)\.weight", k)))
        style_dim = int(g["style.1.weight"].shape[1])
        n_blocks = sum(1 for k in g if re.fullmatch(r"to_rgbs\.\d+\.bias", k))
        resolution = 2 ** (n_blocks + 2)
        channels = {4: int(g["input.input"].shape[1])}
        channels.update({2 ** (i + 3): int(g[f"convs.{2 * i}.conv.weight"].shape[1]) for i in range(n_blocks)})
        out = {"mapping.fc%d.%s" % (i, p): g[f"style.{n}.{p}"] for i, n in enumerate(fcs) for p in ("weight", "bias")}
        out["synthesis.b4.const"] = g["input.input"][0]
        # (our layer, their conv, their noise index) for every styled conv; (our RGB layer, theirs) for RGB
        convs = [("b4.conv1", "conv1", 0)] + [(f"b{2 ** (i + 3)}.conv{j}", f"convs.{2 * i + j}", 2 * i + j + 1)
                                              for i in range(n_blocks) for j in (0, 1)]
        rgbs = [("b4.torgb", "to_rgb1")] + [(f"b{2 ** (i + 3)}.torgb", f"to_rgbs.{i}") for i in range(n_blocks)]
        for ours, theirs, k in convs:
            out[f"synthesis.{ours}.weight"] = g[f"{theirs}.conv.weight"][0]
            out[f"synthesis.{ours}.bias"] = g[f"{theirs}.activate.bias"]
            out[f"synthesis.{ours}.noise_strength"] = g[f"{theirs}.noise.weight"].reshape(())
            out[f"synthesis.{ours}.noise_const"] = g[f"noises.noise_{k}"][0, 0]
        for ours, theirs in rgbs:
            out[f"synthesis.{ours}.weight"] = g[f"{theirs}.conv.weight"][0]
            out[f"synthesis.{ours}.bias"] = g[f"{theirs}.bias"].flatten()
        for ours, theirs in [(a, b) for a, b, _ in convs] + rgbs:
            for p in ("weight", "bias"):
                out[f"synthesis.{ours}.affine.{p}"] = g[f"{theirs}.conv.modulation.{p}"]
        for i in range(n_blocks):
            _check_kernel(g[f"convs.{2 * i}.conv.blur.kernel"], 4.0, f"convs.{2 * i}'s blur kernel", path)
            _check_kernel(g[f"to_rgbs.{i}.upsample.kernel"], 4.0, f"to_rgbs.{i}'s upsampling kernel", path)
    except (KeyError, IndexError, AttributeError, RuntimeError) as exc:
        raise NetworkPickleError(f"{path}: an incomplete rosinality generator (missing or misshapen {exc})") from None
    avg = data.get("latent_avg")
    has_mean = isinstance(avg, torch.Tensor) and avg.numel() == style_dim
    if has_mean:
        out["mapping.w_avg"] = avg.reshape(style_dim)  # type: ignore[union-attr]
    base, top = _widths(channels, path)
    cfg = StyleGAN2Config(style_dim, 0, style_dim, resolution, 3, {"num_layers": len(fcs), "lr_multiplier": 0.01},
                          {"channel_base": base, "channel_max": top, "architecture": "skip"})
    return cfg, out, has_mean


def estimate_mean_w(model: Any) -> None:
    """rosinality's `mean_latent`: the average w of random z, for a checkpoint that stored no mean."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        z = torch.randn(MEAN_SAMPLES, model.z_dim, generator=gen)
        model.mapping.w_avg.copy_(model.mapping(z, None)[:, 0].mean(0))


def discriminator(data: dict[str, Any], path: Path) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]]:
    """The discriminator `d`, as our StyleGAN2 discriminator's arguments and tensors."""
    d = data.get("d")
    if not isinstance(d, dict) or "final_conv.0.weight" not in d:
        raise NoDiscriminator(f"{path} holds no discriminator (d): it is a generator-only checkpoint")
    try:
        n_blocks = sum(1 for k in d if re.fullmatch(r"convs\.\d+\.conv1\.0\.weight", k))
        resolution = 2 ** (n_blocks + 2)
        out = {f"b{resolution}.fromrgb.weight": d["convs.0.0.weight"],
               f"b{resolution}.fromrgb.bias": d["convs.0.1.bias"]}
        channels = {4: int(d["final_conv.0.weight"].shape[0])}
        for j in range(1, n_blocks + 1):
            r = resolution // 2 ** (j - 1)
            channels[r] = int(d[f"convs.{j}.conv1.0.weight"].shape[0])
            block = f"convs.{j}"
            out.update({f"b{r}.conv0.weight": d[f"{block}.conv1.0.weight"], f"b{r}.conv0.bias": d[f"{block}.conv1.1.bias"],
                        f"b{r}.conv1.weight": d[f"{block}.conv2.1.weight"], f"b{r}.conv1.bias": d[f"{block}.conv2.2.bias"],
                        f"b{r}.skip.weight": d[f"{block}.skip.1.weight"]})
            _check_kernel(d[f"convs.{j}.conv2.0.kernel"], 1.0, f"d's convs.{j} blur kernel", path)
        out.update({"b4.conv.weight": d["final_conv.0.weight"], "b4.conv.bias": d["final_conv.1.bias"],
                    "b4.fc.weight": d["final_linear.0.weight"], "b4.fc.bias": d["final_linear.0.bias"],
                    "b4.out.weight": d["final_linear.1.weight"], "b4.out.bias": d["final_linear.1.bias"]})
    except (KeyError, IndexError, AttributeError, RuntimeError) as exc:
        raise NetworkPickleError(f"{path}: an incomplete rosinality discriminator (missing {exc})") from None
    base, top = _widths(channels, path)
    if not math.log2(resolution).is_integer():
        raise NetworkPickleError(f"{path}: a discriminator for {resolution} px is not a StyleGAN2 one")
    cfg = DiscriminatorConfig(0, resolution, 3, "resnet", base, top, None, None, {},
                              {"mbstd_group_size": 4, "mbstd_num_channels": 1})
    return cfg, out
