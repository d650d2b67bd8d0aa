"""FID and KID from Inception pool3 features (Heusel et al. 2017; Binkowski et al. 2018), as in paper Table III.

Reference statistics of a dataset are cached per (dataset, resolution, count, seed) so that scoring several
models against the same data pays for the real images once.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import SpatialGANError
from ..model import SteerableModel
from ..render import render
from .inception import InceptionFeatures


@dataclass(frozen=True)
class FeatureStats:
    """Mean and covariance of a feature set; `features` kept (float32) when KID will be needed."""

    mu: np.ndarray      # (D,) float64
    sigma: np.ndarray   # (D, D) float64
    count: int
    features: np.ndarray | None = None  # (N, D) float32

    @classmethod
    def from_features(cls, feats: np.ndarray | torch.Tensor, keep: bool = True) -> "FeatureStats":
        f = np.asarray(feats, dtype=np.float64)
        if f.ndim != 2 or f.shape[0] < 2:
            raise SpatialGANError(f"need at least 2 feature vectors for statistics, got shape {f.shape}")
        return cls(f.mean(0), np.cov(f, rowvar=False), f.shape[0], f.astype(np.float32) if keep else None)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        extra = {"features": self.features} if self.features is not None else {}
        np.savez(tmp, mu=self.mu, sigma=self.sigma, count=np.int64(self.count), **extra)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "FeatureStats":
        with np.load(path) as z:
            return cls(z["mu"], z["sigma"], int(z["count"]), z["features"] if "features" in z else None)


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    Tr((S_a S_b)^(1/2)) equals the sum of square roots of the eigenvalues of S_a^(1/2) S_b S_a^(1/2), which is
    symmetric PSD: two symmetric eigendecompositions in float64 and no scipy needed.
    """
    diff = a.mu - b.mu
    w, v = np.linalg.eigh(a.sigma)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root_a @ b.sigma @ root_a
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(ev, 0, None)).sum()
    return float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2 * tr_covmean)


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, num_subsets: int = 100, max_subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random
    subsets (the StyleGAN2-ADA estimator). Returns (mean, std over subsets)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    n = min(a.shape[0], b.shape[0], max_subset_size)
    if n < 2:
        raise SpatialGANError("KID needs at least 2 samples on each side")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(num_subsets):
        x = a[rng.choice(a.shape[0], n, replace=False)]
        y = b[rng.choice(b.shape[0], n, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        # unbiased: drop the diagonals of the within-set kernels
        mmd = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (n * (n - 1)) - 2 * kxy.mean()
        vals.append(mmd)
    return float(np.mean(vals)), float(np.std(vals))


# ---- image sources (uint8-range float tensors, (B, 3, R, R)) ------------------------------------------------

def dataset_batches(dataset: Dataset, count: int, batch: int = 32, start: int = 0) -> Iterator[torch.Tensor]:
    """Images start .. start+count-1 of a dataset whose items are (3, R, R) in [-1, 1]."""
    if count > len(dataset) - start:  # type: ignore[arg-type]
        raise SpatialGANError(f"asked for {count} images from index {start}, dataset has {len(dataset)}")  # type: ignore[arg-type]
    for s in range(start, start + count, batch):
        items = [dataset[i] for i in range(s, min(s + batch, start + count))]
        yield (torch.stack(items) + 1) * 127.5


def mapped(G: SteerableModel, z: torch.Tensor, psi: float, gen: torch.Generator) -> torch.Tensor:
    """ws of a batch of z; a class-conditional model draws each picture's class uniformly."""
    classes = len(G.capabilities.class_labels)
    if not classes:
        return G.map_z(z, psi)
    labels = torch.randint(classes, (z.shape[0],), generator=gen).tolist()
    return torch.cat([G.map_z(z[i: i + 1], psi, label) for i, label in enumerate(labels)])


@torch.no_grad()
def generator_batches(G: SteerableModel, count: int, batch: int = 32, seed: int = 0, psi: float = 1.0,
                      device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
    """`count` images of G with heatmaps drawn as in training (no truncation by default, as FID requires).

    Fully determined by `seed`: the per-pixel noise (and a "noise" ablation model's maps) come from torch's
    global generator, which is seeded per batch inside a fork, so the caller's random state is left alone."""
    gen = torch.Generator().manual_seed(seed)
    dtype = next(G.parameters()).dtype
    forked = [device] if torch.device(device).type == "cuda" else []
    for s in range(0, count, batch):
        b = min(batch, count - s)
        z = torch.randn(G.z_shape(b), generator=gen).to(device)
        with torch.random.fork_rng(devices=forked):
            torch.manual_seed(seed * 1_000_003 + s)
            hb = G.sample_layouts(b, seed=gen).to(device) if G.heatmap_resolutions else None
            ws = mapped(G, z.to(dtype), psi, gen)
            img = render(G, ws, hb, noise_mode="random").image.float()
        yield ((img.clamp(-1, 1) + 1) * 127.5).cpu()


# ---- reference statistics cache -----------------------------------------------------------------------------

def default_cache_dir() -> Path:
    return Path(os.environ.get("SPATIALGAN_CACHE", Path.home() / ".cache" / "spatialgan")) / "fid"


def reference_stats(data: str, resolution: int, count: int, net: InceptionFeatures, seed: int = 0,
                    cache_dir: Path | None = None, start: int = 0, progress: bool = True) -> FeatureStats:
    """Statistics of `count` images of a dataset ("rooms", "pets" or a folder), cached on disk."""
    from ..data import make_dataset

    safe = "".join(c if c.isalnum() else "_" for c in str(data))[-60:]
    cache = (cache_dir or default_cache_dir()) / f"{safe}_{resolution}px_n{count}_s{seed}_from{start}.npz"
    if cache.is_file():
        return FeatureStats.load(cache)
    dataset = make_dataset(data, resolution, seed=seed)
    feats = net.extract(dataset_batches(dataset, count, start=start), total=count, desc=f"{data} features",
                        progress=progress)
    stats = FeatureStats.from_features(feats)
    stats.save(cache)
    return stats


@dataclass(frozen=True)
class FIDResult:
    fid: float
    kid: float        # unbiased MMD^2, reported x1e3 elsewhere as is customary
    kid_std: float
    num_fake: int
    num_real: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def score(fake: FeatureStats, real: FeatureStats, kid_subsets: int = 100) -> FIDResult:
    """FID and KID of one feature set against another (both must keep their features for KID)."""
    if fake.features is None or real.features is None:
        raise SpatialGANError("KID needs the raw features of both sets")
    kid, kid_std = kernel_inception_distance(fake.features, real.features, num_subsets=kid_subsets)
    return FIDResult(frechet_distance(fake, real), kid, kid_std, fake.count, real.count)


def model_fid(G: SteerableModel, data: str, count: int, real_count: int | None = None, net: InceptionFeatures | None = None,
              seed: int = 0, batch: int = 32, cache_dir: Path | None = None, progress: bool = True) -> FIDResult:
    """FID/KID of `count` generated images against `real_count` (default `count`) images of `data`."""
    net = net or InceptionFeatures()
    device = net.device
    G = G.to(device).eval()
    real = reference_stats(data, G.capabilities.resolution, real_count or count, net, cache_dir=cache_dir,
                           progress=progress)
    feats = net.extract(generator_batches(G, count, batch=batch, seed=seed, device=device), total=count,
                        desc="generated features", progress=progress)
    return score(FeatureStats.from_features(feats), real)


def describe(result: FIDResult) -> str:
    return json.dumps(result.to_dict())
