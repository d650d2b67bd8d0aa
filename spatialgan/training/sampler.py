"""An endless, resumable, shardable stream of dataset indices.

The stream is a concatenation of per-epoch permutations seeded by (seed, epoch). Step s of the run uses global
positions [s * B, (s + 1) * B), and process r of W takes its contiguous slice. So a resumed run, or the same run
on a different number of processes, sees exactly the same images at the same step.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


class StepSampler(Sampler[int]):
    def __init__(self, length: int, batch: int, seed: int, start_step: int = 0, rank: int = 0, world: int = 1):
        if length < 1:
            raise ValueError("the dataset is empty")
        if batch % world:
            raise ValueError(f"batch {batch} must be divisible by the number of processes {world}")
        self.length, self.batch, self.seed = length, batch, seed
        self.start_step, self.rank, self.world = start_step, rank, world

    def _perm(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.length, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))

    def __iter__(self) -> Iterator[int]:
        local = self.batch // self.world
        step = self.start_step
        cached_epoch, perm = -1, torch.empty(0, dtype=torch.long)
        while True:
            base = step * self.batch + self.rank * local
            for pos in range(base, base + local):
                epoch = pos // self.length
                if epoch != cached_epoch:
                    cached_epoch, perm = epoch, self._perm(epoch)
                yield int(perm[pos % self.length])
            step += 1

    def __len__(self) -> int:  # endless; DataLoader only needs this for progress estimates
        return 2**62
