"""How closely D's GradCAM follows the heatmaps G was given (paper Sec. 3.3): the quantity L_align trains.

Objects can only follow their heatmaps through L_align if, on G's images, D attends where the heatmaps are. The
measure compares each image's own heatmaps ("matched") with another image's ("shuffled"): the untruncated mean
|GradCAM - H| per level (Eq. 4 / Eq. 5 with tau = 0) and the Pearson correlation of the two maps. Without any
alignment the matched and shuffled numbers are equal up to noise, so the gap is the measure, not the raw value:
heatmaps and attention both favour the image centre.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import torch

from ..discriminator import Discriminator
from ..errors import SpatialGANError
from ..generator import Generator
from ..gradcam import CamScore, Observable, gradcam, normalise_per_sample, upsampled
from ..heatmaps import combine
from ..losses import align_distance
from ..model import SteerableModel
from ..render import render

if TYPE_CHECKING:
    from ..training.config import TrainConfig


@dataclass(frozen=True)
class LevelAlignment:
    resolution: int
    l1_matched: float
    l1_shuffled: float
    corr_matched: float
    corr_shuffled: float
    flat: float  # share of GradCAM maps that ReLU left all zero (normalised to a flat 1: no spatial signal)


@dataclass(frozen=True)
class AlignmentResult:
    levels: list[LevelAlignment]
    num: int
    indoor: bool

    def to_dict(self) -> dict:
        return {"num": self.num, "indoor": self.indoor, "levels": [asdict(lv) for lv in self.levels]}


def _correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample Pearson correlation of two (B, 1, r, r) maps; 0 where either map is flat."""
    a = a.flatten(1) - a.flatten(1).mean(1, keepdim=True)
    b = b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    den = a.norm(dim=1) * b.norm(dim=1)
    return torch.where(den > 0, (a * b).sum(1) / den.clamp_min(1e-12), torch.zeros_like(den))


def compare(cams: Mapping[int, torch.Tensor], heatmaps: Mapping[int, torch.Tensor], perm: torch.Tensor,
            indoor: bool) -> dict[int, tuple[float, float, float, float, float]]:
    """Per level: (L1 matched, L1 shuffled, corr matched, corr shuffled, flat share); sums over the batch, so
    callers can add batches and divide by the count. `perm` pairs image i with heatmaps perm[i]."""
    out = {}
    for r, cam in cams.items():
        stats = []
        for h in (heatmaps[r], heatmaps[r][perm]):
            l1 = align_distance({r: cam}, {r: h}, indoor, tau=0.0).item() * cam.shape[0]
            stats.append((l1, _correlation(cam, combine(h)).sum().item()))
        flat = (cam.flatten(1).amin(1) == 1).float().sum().item()
        out[r] = (stats[0][0], stats[1][0], stats[0][1], stats[1][1], flat)
    return out


def alignable_levels(G: SteerableModel) -> dict[int, int]:
    """The model's heatmap levels and the D activations they are compared with; refused without heatmaps."""
    if not G.attention_levels:
        raise SpatialGANError("heatmap alignment needs a model with heatmaps; this one has none")
    return G.attention_levels


def heatmap_alignment(G: SteerableModel, D: Observable, indoor: bool, num: int = 256, batch: int = 32, seed: int = 0,
                      score: CamScore = "g_loss") -> AlignmentResult:
    """Alignment of frozen D's GradCAM with the heatmaps of `num` samples of G, per encoded level. Where D's
    activation is coarser than the heatmap (EqGAN-SA's pairing), GradCAM is resized to it (bilinear, corners
    aligned, as EqGAN-SA does) and normalised again."""
    pairs = alignable_levels(G)
    if num < 2:
        raise SpatialGANError("heatmap alignment needs at least 2 samples (it pairs each with another)")
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    totals = {r: [0.0] * 5 for r in pairs}
    for s in range(0, num, batch):
        b = min(batch, num - s)
        if b < 2:  # a lone leftover sample has no other sample to be shuffled with
            num = s
            break
        hb = G.sample_layouts(b, seed=gen)
        z = torch.randn(G.z_shape(b), generator=gen).to(device)
        with torch.no_grad():
            out = render(G, G.map_z(z), hb.to(device))
            maps, img = out.heatmaps, out.image.float()
            assert maps is not None
        by_activation = gradcam(D, img, sorted(set(pairs.values())), score)
        cams = {}
        for r, d in pairs.items():
            cam, size = by_activation[d].detach(), maps[r].shape[-1]
            # where D's activation is coarser than the heatmap: resized, and normalised again
            cams[r] = cam if cam.shape[-1] == size else normalise_per_sample(upsampled(cam, size))
        perm = torch.roll(torch.arange(b, device=device), 1)
        for r, vals in compare(cams, {r: maps[r].float() for r in pairs}, perm, indoor).items():
            totals[r] = [t + v for t, v in zip(totals[r], vals)]
    return AlignmentResult([LevelAlignment(r, *(v / num for v in totals[r])) for r in pairs], num, indoor)


def load_run(run: Path, device: torch.device) -> tuple[Generator, Discriminator, TrainConfig]:
    """The EMA generator, the discriminator and the training settings of a training run's snapshot (the
    settings say which alignment target, Eq. 4 or 5, and which GradCAM score L_align used)."""
    from ..research import build
    from ..training.config import TrainConfig
    from ..training.loop import CONFIG, SNAPSHOT
    from ..training.snapshot import load_snapshot

    run = Path(run)
    if not (run / SNAPSHOT).is_file() or not (run / CONFIG).is_file():
        raise SpatialGANError(f"{run} is not a training run folder (it needs {CONFIG} and {SNAPSHOT}: the "
                              "discriminator is not part of an exported model)")
    cfg = TrainConfig.load(run / CONFIG)
    gcfg, dcfg = cfg.model_configs()
    G, D = build(gcfg, cfg.variant()), Discriminator(dcfg)
    load_snapshot(run / SNAPSHOT, {"G_ema": G, "D": D}, {}, device)
    return G.to(device).eval(), D.to(device).eval(), cfg
