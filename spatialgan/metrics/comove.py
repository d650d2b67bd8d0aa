"""Co-move ratio (paper Table I, REFERENCE.md section 5): does the object under a heatmap centre follow it?

Move sub-heatmap centre i by a random vector p and regenerate with the same latent codes; find the object that
contained the centre by segmentation, match it in the new image by smallest feature distance, and take the
displacement q of its centroid. ratio = (p . q) / |p|^2, averaged; 1 is ideal, 0 means nothing moved.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..errors import SpatialGANError
from ..generator import Generator
from ..heatmaps import HeatmapBatch, HeatmapLevel, sample_heatmaps
from .segmentation import TinyUNet


@dataclass(frozen=True)
class CoMoveConfig:
    min_shift: float = 0.08    # |p| ~ U(min_shift, max_shift) in image units: big enough to measure at 64 px
    max_shift: float = 0.2
    margin: float = 0.05       # keep moved centres this far inside the image
    min_area: int = 6          # segmenter pixels for a component to count as an object
    class_weight: float = 10.0  # matching: a different class costs as much as a large appearance change
    psi: float = 1.0


@dataclass(frozen=True)
class CoMoveResult:
    ratio: float               # mean of (p . q) / |p|^2 over measured moves
    ratio_std: float
    median: float
    measured: int              # moves whose centre lay on an object and whose object was found again
    attempted: int
    no_object: int             # centre fell on background before the move
    lost: int                  # no object left in the moved image to match

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def components(labels: np.ndarray, min_area: int) -> list[tuple[int, np.ndarray]]:
    """4-connected regions of equal non-zero label -> [(label, bool mask)], small specks dropped."""
    h, w = labels.shape
    seen = np.zeros_like(labels, bool)
    out = []
    for y0, x0 in zip(*np.nonzero(labels)):
        if seen[y0, x0]:
            continue
        lab = labels[y0, x0]
        mask = np.zeros_like(seen)
        queue = deque([(y0, x0)])
        seen[y0, x0] = True
        while queue:
            y, x = queue.popleft()
            mask[y, x] = True
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and not seen[ny, nx] and labels[ny, nx] == lab:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        if mask.sum() >= min_area:
            out.append((int(lab), mask))
    return out


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    r = mask.shape[0]
    return np.array([(xs.mean() + 0.5) / r, (ys.mean() + 0.5) / r])


def _descriptor(feats: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean segmenter feature and mean colour over the object: the stand-in for Mask R-CNN's RoI feature."""
    return np.concatenate([feats[:, mask].mean(1), image[:, mask].mean(1)])


def match_displacement(lab0: np.ndarray, f0: np.ndarray, img0: np.ndarray, lab1: np.ndarray, f1: np.ndarray,
                       img1: np.ndarray, centre: np.ndarray, cfg: CoMoveConfig = CoMoveConfig()) -> np.ndarray | str:
    """Displacement q (image units) of the object under `centre` (x, y) between two segmented images.

    labels (R, R), features (C, R, R), images (3, R, R). Returns "no_object" when the centre lies on background
    and "lost" when the second image has no object to match.
    """
    r = lab0.shape[0]
    cx, cy = (np.asarray(centre) * r).astype(int).clip(0, r - 1)
    label = lab0[cy, cx]
    if label == 0:
        return "no_object"
    src = next(m for lab, m in components(lab0, 1) if m[cy, cx])
    ref = _descriptor(f0, img0, src)
    cands = components(lab1, cfg.min_area)
    if not cands:
        return "lost"
    dists = [np.linalg.norm(_descriptor(f1, img1, m) - ref) + cfg.class_weight * (lab != label) for lab, m in cands]
    return _centroid(cands[int(np.argmin(dists))][1]) - _centroid(src)


def _move(batch: HeatmapBatch, index: torch.Tensor, shift: torch.Tensor) -> HeatmapBatch:
    """Move object `index[b]` by `shift[b]`. Multi mode: that sub-heatmap, which the model sees at every layer.
    Hierarchical mode: the root with all its descendants, i.e. every centre, as the editor drags it (a single-
    object model has one object; moving a leaf alone would move a part of it at most)."""
    levels = list(batch.levels)
    rows = torch.arange(shift.shape[0])
    for li, lv in enumerate(levels):
        centres = lv.centres.clone()
        if batch.mode == "hierarchical":
            centres += shift[:, None]
        elif li == len(levels) - 1:
            centres[rows, index] += shift
        levels[li] = HeatmapLevel(centres, lv.sigmas, lv.weights)
    return HeatmapBatch(batch.mode, levels, batch.parents)


@torch.no_grad()
def co_move_ratio(G: Generator, seg: TinyUNet, num: int = 200, seed: int = 0, batch: int = 16,
                  cfg: CoMoveConfig = CoMoveConfig(), progress: bool = True) -> CoMoveResult:
    """Average co-move ratio over `num` random (latent, heatmap, centre, move) draws."""
    from tqdm import tqdm

    if not G.heatmap_resolutions:
        raise SpatialGANError("co-move ratio needs a generator with heatmaps (encoding 'none' has none)")
    device = next(G.parameters()).device
    dtype = next(G.parameters()).dtype
    gen = torch.Generator().manual_seed(seed)
    ratios: list[float] = []
    no_object = lost = 0
    with tqdm(total=num, desc="co-move", disable=not progress, leave=False) as bar:
        for s in range(0, num, batch):
            b = min(batch, num - s)
            z = torch.randn(G.z_shape(b), generator=gen)
            hb = sample_heatmaps(G.config.heatmap, b, seed=gen)
            # The moved object's centre: a random sub-heatmap (multi) or the root (hierarchical, see _move).
            lv = hb.levels[-1] if hb.mode == "multi" else hb.levels[0]
            index = torch.randint(lv.num_centres, (b,), generator=gen)
            before = lv.centres[torch.arange(b), index]
            angle = torch.rand(b, generator=gen) * 2 * np.pi
            length = torch.rand(b, generator=gen) * (cfg.max_shift - cfg.min_shift) + cfg.min_shift
            target = before + length[:, None] * torch.stack([angle.cos(), angle.sin()], 1)
            target = target.clamp(cfg.margin, 1 - cfg.margin)
            p = (target - before).numpy().astype(np.float64)
            moved = _move(hb, index, target - before)
            ws = G.mapping(z.to(device, dtype), psi=cfg.psi)
            imgs = []
            for h in (hb, moved):
                maps = {r: m.to(device, dtype) for r, m in G.render_heatmaps(h.to(device)).items()}
                imgs.append(G.synthesis(ws, maps, noise_mode="const").image.float().clamp(-1, 1))
            small = [torch.nn.functional.interpolate(im, size=(seg.config.resolution,) * 2, mode="area")
                     for im in imgs]
            seg_device = next(seg.parameters()).device
            (lab0, f0), (lab1, f1) = (seg.predict(x.to(seg_device)) for x in small)
            for k in range(b):
                q = match_displacement(lab0[k].cpu().numpy(), f0[k].cpu().numpy(), small[0][k].cpu().numpy(),
                                       lab1[k].cpu().numpy(), f1[k].cpu().numpy(), small[1][k].cpu().numpy(),
                                       before[k].numpy(), cfg)
                if isinstance(q, str):
                    no_object += q == "no_object"
                    lost += q == "lost"
                    continue
                ratios.append(float(p[k] @ q / (p[k] @ p[k])))
            bar.update(b)
    if not ratios:
        raise SpatialGANError(f"no move could be measured in {num} tries (centres on background: {no_object}, "
                              f"objects lost: {lost}); is the segmenter trained on this kind of image?")
    arr = np.asarray(ratios)
    return CoMoveResult(float(arr.mean()), float(arr.std()), float(np.median(arr)), len(arr), num, no_object, lost)
