"""A toy dataset and a tiny training config shared by the training tests and their torchrun worker."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from spatialgan.training import TrainConfig


class ToyImages(Dataset):
    """Deterministic random images: enough to exercise the loop without the procedural renderers."""

    def __init__(self, length: int = 40, resolution: int = 32) -> None:
        self.length, self.resolution = length, resolution

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(i)
        return torch.rand(3, self.resolution, self.resolution, generator=g) * 2 - 1


def tiny_train_config(**over) -> TrainConfig:
    base = dict(data="toy", resolution=32, encoding="sel_indoor", batch=4, total_kimg=0.024, workers=0,
                channel_base=512, channel_max=16, w_dim=16, mapping_layers=2, sel_hidden=8, heatmap_features=8,
                snapshot_kimg=0.008, sample_kimg=0.012, log_steps=1, r1_interval=2,
                # Makes one process and two comparable: no per-process noise, no cross-sample D statistics.
                noise_mode="const", mbstd_group=1)
    return TrainConfig(**{**base, **over})
