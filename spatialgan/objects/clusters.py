"""Where a model draws its objects, from its own activations: spherical k-means of the per-pixel features of one
coarse block over a few dozen of the model's pictures gives clusters that follow parts and objects without any
labels (the observation of Collins et al., "Editing in Style", CVPR 2020). Fitted once per model and cached; a
picture's cluster map is then one matrix product at that block.

Clusters split objects into parts (a pet's face, its outline, its ears), so each cluster is also marked as
background or not by where it lies: a cluster found along the pictures' border at most `OBJECT_BORDER` times as
often as over the whole picture is a part of objects; the rest (walls, floor, sky, and the halo around objects)
is background. What is not background, connected, is an object (`selection`). The numbers were chosen on the bundled
pets64 and rooms64 models against their segmenters (docs/measurements.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save as save_tensors

from .. import files
from ..errors import SpatialGANError
from ..model import Capabilities, SteerableModel
from ..paths import cache_dir

CLUSTER_BLOCK = 32   # the finest block clustered: fine enough for an outline, coarse enough for objects' parts
NUM_CLUSTERS = 8
NUM_SAMPLES = 64
MAX_PIXELS = 50_000  # pixels the k-means fits on, drawn from all samples' maps (thousands per cluster)
SEED_BASE = 900_000  # the pictures fitted on: seeds away from the ones people usually look at
BORDER = 1 / 8       # the border band, as a share of the side
OBJECT_BORDER = 0.3  # a cluster this much rarer along the border than overall is part of objects


def cluster_block(caps: Capabilities, wanted: int = CLUSTER_BLOCK) -> int:
    """The block whose features are clustered: the finest tap block at most `wanted` and below the output."""
    fit = [r for r in caps.tap_blocks if r <= min(wanted, caps.resolution // 2)]
    return max(fit) if fit else min(caps.tap_blocks)


@dataclass(frozen=True)
class ObjectClusters:
    """Unit centroids (K, C) of a model's features at block `block`, fitted on `samples` pictures, and how often
    each is found along the border relative to the whole picture (K,): 1 is evenly spread, 0 never at the border."""

    block: int
    centroids: torch.Tensor
    border: torch.Tensor
    samples: int
    seed: int

    @property
    def background(self) -> torch.Tensor:
        """(K,) bool: the clusters that are not part of objects."""
        return self.border > OBJECT_BORDER

    def to_bytes(self) -> bytes:
        meta = {"block": str(self.block), "samples": str(self.samples), "seed": str(self.seed)}
        return save_tensors({"centroids": self.centroids.detach().float().cpu().contiguous(),
                             "border": self.border.detach().float().cpu().contiguous()}, metadata=meta)

    @staticmethod
    def read(path: Path) -> "ObjectClusters":
        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
            t = load_file(str(path))
            return ObjectClusters(int(meta["block"]), t["centroids"], t["border"], int(meta["samples"]),
                                  int(meta["seed"]))
        except (OSError, KeyError, ValueError, SafetensorError) as exc:
            raise SpatialGANError(f"cannot read object clusters from {path}: {exc}") from None


def _unit(f: torch.Tensor, dim: int) -> torch.Tensor:
    return f / f.norm(dim=dim, keepdim=True).clamp_min(1e-8)


def _features(G: SteerableModel, seed: int, psi: float, block: int, device: torch.device) -> torch.Tensor:
    """(C, r, r) features of `seed`'s picture after `block`."""
    from ..render import render_until  # the render path plugs in this package's edits: import it when used

    ws = G.seed_ws(seed, psi=psi).to(device)
    spec = G.default_layout(seed)
    layout = spec.to_batch(device) if spec is not None else None
    return render_until(G, ws, layout, block).features[0].float()


def spherical_kmeans(x: torch.Tensor, k: int, gen: torch.Generator, iters: int = 30) -> torch.Tensor:
    """Unit centroids (k, C) of unit rows `x` (N, C) by cosine similarity, k-means++ seeded from `gen`."""
    n = x.shape[0]
    if n < k:
        raise SpatialGANError(f"{n} feature vectors cannot make {k} clusters")
    centroids = [x[int(torch.randint(n, (1,), generator=gen))]]
    closest = torch.full((n,), 2.0)
    for _ in range(k - 1):
        closest = torch.minimum(closest, 1 - x @ centroids[-1])
        p = closest.clamp_min(0) ** 2
        idx = int(torch.multinomial(p / p.sum() if p.sum() > 0 else torch.ones(n) / n, 1, generator=gen))
        centroids.append(x[idx])
    c = torch.stack(centroids)
    for _ in range(iters):
        labels = (x @ c.t()).argmax(1)
        sums = torch.zeros_like(c).index_add_(0, labels, x)
        empty = sums.norm(dim=1) < 1e-8
        c = torch.where(empty[:, None], c, _unit(sums, 1))  # an empty cluster keeps its centroid
    return c


@torch.no_grad()
def fit_clusters(G: SteerableModel, k: int = NUM_CLUSTERS, samples: int = NUM_SAMPLES, seed: int = 0,
                 psi: float = 0.7, block: int | None = None) -> ObjectClusters:
    """Cluster the features of block `block` (default `cluster_block`) over `samples` of `G`'s pictures
    (seeds SEED_BASE + i, truncation `psi`) into `k` clusters; deterministic for a seed."""
    if not (2 <= k <= 64) or not (1 <= samples <= 1000):
        raise SpatialGANError(f"clusters need 2..64 clusters and 1..1000 samples, got {k} and {samples}")
    caps = G.capabilities
    block = block or cluster_block(caps)
    device = next(G.parameters()).device if isinstance(G, torch.nn.Module) else torch.device("cpu")
    feats = torch.stack([_features(G, SEED_BASE + i, psi, block, device).cpu() for i in range(samples)])
    r = feats.shape[-1]
    x = _unit(feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1]), 1)
    gen = torch.Generator().manual_seed(seed)
    fit = x[torch.randperm(x.shape[0], generator=gen)[:MAX_PIXELS]] if x.shape[0] > MAX_PIXELS else x
    centroids = spherical_kmeans(fit, k, gen)
    labels = (x @ centroids.t()).argmax(1).reshape(samples, r, r)
    band = torch.zeros(r, r, dtype=torch.bool)
    b = max(1, round(r * BORDER))
    band[:b] = band[-b:] = band[:, :b] = band[:, -b:] = True
    share = (torch.bincount(labels[:, band].flatten(), minlength=k).float()
             / torch.bincount(labels.flatten(), minlength=k).float().clamp_min(1))
    return ObjectClusters(block, centroids, share / band.float().mean(), samples, seed)


def label_maps(clusters: ObjectClusters, features: torch.Tensor) -> torch.Tensor:
    """(B, r, r) cluster index of every pixel of block features (B, C, r, r): the most similar centroid."""
    if features.ndim != 4 or features.shape[1] != clusters.centroids.shape[1]:
        raise SpatialGANError(f"features {tuple(features.shape)} do not match clusters of "
                              f"{clusters.centroids.shape[1]} channels")
    f = _unit(features.float(), 1)
    return torch.einsum("bchw,kc->bkhw", f, clusters.centroids.to(f)).argmax(1)


def model_fingerprint(G: torch.nn.Module) -> str:
    """sha256 of a model's weights and buffers (names, sizes, dtypes and bytes): the clusters' cache key."""
    h = hashlib.sha256()
    for name, t in sorted(G.state_dict().items()):
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}{t.numel()}{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def cached_clusters(G: SteerableModel, cache: str | Path | None = None, k: int = NUM_CLUSTERS,
                    samples: int = NUM_SAMPLES, seed: int = 0) -> tuple[ObjectClusters, bool]:
    """The model's clusters, fitted once and kept under the cache folder keyed by its weights (a file moved or
    renamed keeps them); True when they were fitted now. A damaged cache entry is fitted again."""
    key = model_fingerprint(G)[:16] if isinstance(G, torch.nn.Module) else "unknown"
    settings = {"k": k, "samples": samples, "seed": seed, "block": cluster_block(G.capabilities)}
    name = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    target = Path(cache or cache_dir()) / "objects" / f"{key}-{name}.safetensors"
    if target.exists():
        try:
            return ObjectClusters.read(target), False
        except SpatialGANError:
            target.unlink(missing_ok=True)
    clusters = fit_clusters(G, k, samples, seed)
    data = clusters.to_bytes()
    try:
        files.write_atomic(target, lambda t: t.write_bytes(data))
    except (OSError, files.FileError):
        pass  # a read-only cache only costs the fit next time
    return clusters, True
