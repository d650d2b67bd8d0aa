"""A tiny U-Net trained on the procedural datasets' exact masks: our stand-in for the Mask R-CNN of paper Table I.

Semantic segmentation (background + one label per class); objects are the connected components of a class.
Weights are safetensors with the JSON config in the metadata, like generator checkpoints.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save

from ..errors import CheckpointError, SpatialGANError
from ..files import write_atomic, write_text_atomic
from ..progress import bar_options


@dataclass(frozen=True)
class SegConfig:
    data: str = "rooms"                   # which procedural dataset it was trained on
    classes: tuple[str, ...] = ()         # label k + 1 is classes[k]; 0 is background
    resolution: int = 64                  # images are resized to this before segmentation
    channels: tuple[int, ...] = (16, 32, 64)  # encoder widths; the decoder mirrors them

    @property
    def num_labels(self) -> int:
        return len(self.classes) + 1


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyUNet(nn.Module):
    """images (B, 3, R, R) in [-1, 1] -> (logits (B, L, R, R), features (B, C0, R, R) for object matching)."""

    def __init__(self, cfg: SegConfig) -> None:
        super().__init__()
        self.config = cfg
        ch = cfg.channels
        self.down = nn.ModuleList([_block(3 if i == 0 else ch[i - 1], c) for i, c in enumerate(ch)])
        self.up = nn.ModuleList([_block(ch[i] + ch[i + 1], ch[i]) for i in reversed(range(len(ch) - 1))])
        self.head = nn.Conv2d(ch[0], cfg.num_labels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = block(torch.cat([F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False), skip], 1))
        return self.head(x), x

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Any-size images in [-1, 1] -> (labels (B, R, R) int64, features (B, C, R, R)) at the model's R."""
        r = self.config.resolution
        if images.shape[-1] != r:
            images = F.interpolate(images.float(), size=(r, r), mode="area" if images.shape[-1] > r else "bilinear")
        logits, feats = self(images.float())
        return logits.argmax(1), feats


def label_map(masks: np.ndarray, classes: list[str], names: tuple[str, ...]) -> np.ndarray:
    """Disjoint per-object masks -> one label image (0 = background)."""
    out = np.zeros(masks.shape[1:], np.int64)
    for m, c in zip(masks, classes):
        out[m] = names.index(c) + 1
    return out


def procedural_set(data: str, resolution: int, start: int, count: int, seed: int = 0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 3, R, R) in [-1, 1], labels (N, R, R)) rendered from the procedural dataset."""
    from ..data import PROCEDURAL

    if data not in PROCEDURAL:
        raise SpatialGANError(f"segmentation trains on a procedural dataset {sorted(PROCEDURAL)}, got {data!r}")
    ds = PROCEDURAL[data](resolution=resolution, seed=seed)
    names = tuple(ds.CLASSES)
    imgs, labels = [], []
    for i in range(start, start + count):
        s = ds.sample(i)
        imgs.append(torch.from_numpy(s.image.copy()).permute(2, 0, 1))
        labels.append(torch.from_numpy(label_map(s.masks, s.classes, names)))
    return torch.stack(imgs).float().div(127.5).sub(1), torch.stack(labels)


@dataclass
class SegAccuracy:
    pixel_accuracy: float
    mean_iou: float             # over labels present in the held-out set, background included
    per_class_iou: dict[str, float] = field(default_factory=dict)
    num_images: int = 0


@torch.no_grad()
def evaluate(net: TinyUNet, images: torch.Tensor, labels: torch.Tensor, batch: int = 64) -> SegAccuracy:
    net.eval()
    preds = torch.cat([net.predict(images[s:s + batch])[0] for s in range(0, len(images), batch)])
    names = ("background",) + net.config.classes
    ious = {}
    for k, name in enumerate(names):
        inter = ((preds == k) & (labels == k)).sum().item()
        union = ((preds == k) | (labels == k)).sum().item()
        if (labels == k).any():
            ious[name] = inter / union
    return SegAccuracy(float((preds == labels).float().mean()), float(np.mean(list(ious.values()))), ious,
                       len(images))


def train_segmenter(cfg: SegConfig, num_train: int = 2000, steps: int = 1500, batch: int = 32, lr: float = 3e-3,
                    seed: int = 0, progress: bool = True, max_seconds: float | None = None) -> TinyUNet:
    """Cross-entropy on rendered procedural images (indices 0..num_train-1; held-out images come after)."""
    from tqdm import tqdm

    torch.manual_seed(seed)
    images, labels = procedural_set(cfg.data, cfg.resolution, 0, num_train)
    net = TinyUNet(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.monotonic()
    net.train()
    for i in tqdm(range(steps), desc="segmenter", disable=not progress, **bar_options()):
        # warm-up then cosine decay over whichever runs out first, the steps or the time budget, so a run cut
        # short by `max_seconds` still ends at a low learning rate
        done = i / steps if max_seconds is None else max(i / steps, (time.monotonic() - t0) / max_seconds)
        if done >= 1:
            break
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (i + 1) / 20) * 0.5 * (1 + np.cos(np.pi * done))
        idx = torch.randint(num_train, (batch,), generator=gen)
        x, y = images[idx], labels[idx]
        flip = torch.rand(batch, generator=gen) < 0.5  # mirror images: rooms and pets have no handedness
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        y = torch.where(flip[:, None, None], y.flip(-1), y)
        logits, _ = net(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


def save_segmenter(net: TinyUNet, path: str | Path, extra: dict[str, object] | None = None) -> Path:
    """The weights (safetensors) and, beside them, a JSON of the config and `extra`; written atomically."""
    cfg = asdict(net.config)
    meta = {"format": "spatialgan-segmenter", "config": json.dumps(cfg), "info": json.dumps(extra or {})}
    tensors = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    data = save(tensors, metadata=meta)  # bytes: the write itself goes through write_atomic's checks
    path = write_atomic(path, lambda t: t.write_bytes(data), (".safetensors",), "segmenter")
    write_text_atomic(path.with_suffix(".json"), json.dumps({"config": cfg, **(extra or {})}, indent=2) + "\n")
    return path


def load_segmenter(path: str | Path, device: torch.device | str = "cpu") -> TinyUNet:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no segmentation weights at {path}")
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != "spatialgan-segmenter":
            raise CheckpointError(f"{path} is not a spatialgan segmenter (format {meta.get('format')!r})")
        raw = json.loads(meta["config"])
        cfg = SegConfig(raw["data"], tuple(raw["classes"]), int(raw["resolution"]), tuple(raw["channels"]))
        net = TinyUNet(cfg)
        net.load_state_dict(load_file(str(path)))
    except CheckpointError:
        raise
    except Exception as e:  # safetensors raises its own error type for truncated or foreign files
        raise CheckpointError(f"cannot load segmenter {path}: {e}") from e
    return net.to(device).eval()
