"""Inverting a photo into a latent, a heatmap layout and tuned weights, staged as the field does it:

1. starts: the mean w and a few seeds' w, and for heatmap models a few seeds' layouts (a single object's also moved
   over a coarse grid of places), the best pair kept;
2. W: one w per code, broadcast to every layer, optimised for the reconstruction;
3. W+ and the layout: every layer's w, with the heatmap centres and sigmas of a heatmap model optimised jointly
   (the heatmap render is differentiable in the centres);
4. pivotal tuning (PTI): the generator's weights fine-tuned around the found latent until the reconstruction is
   close, with a locality term that keeps other latents' pictures as they were, so that edits still behave.

The loss is the mean squared error of the picture and of its 2x and 4x average-pooled versions (a cheap
stand-in for a perceptual distance: it weighs coarse structure more than pixel noise). Each stage reports every
step to a callback and checks a cancel flag; a cancelled inversion returns what it has reached.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .fused import fuse
from .heatmaps import HeatmapBatch, HeatmapLevel, HeatmapSpec
from .model import SteerableModel
from .paths import cache_dir
from .render import render


@dataclass(frozen=True)
class InversionConfig:
    starts: int = 4  # seeds tried as starting latents (and layouts), besides the mean w
    w_steps: int = 100
    wplus_steps: int = 100
    pti_steps: int = 150
    lr_w: float = 0.03
    lr_layout: float = 0.005  # image units per step for centres; sigmas move in log space at the same rate
    # a larger PTI step reconstructs better but moves other pictures more (bench/inversion.py measures both)
    lr_pti: float = 1e-3
    locality: float = 1.0  # weight of the PTI locality term
    locality_samples: int = 4  # other latents whose pictures PTI keeps


@dataclass
class InversionResult:
    ws: torch.Tensor  # (1, K, num_ws, w_dim)
    spec: HeatmapSpec | None
    model: Any  # the generator to draw it with: tuned by PTI, or the one given
    image: torch.Tensor  # (1, 3, R, R) the reconstruction
    psnr: dict[str, float] = field(default_factory=dict)  # per stage, dB on pixels in [0, 255]
    seconds: float = 0.0


def tuned_path(photo: str | os.PathLike) -> Path:
    """Where an inversion's tuned weights go when no folder is given: the cache, one folder per inversion (a saved
    session keeps pointing at its own weights)."""
    base = cache_dir() / "inverted"
    stem = Path(photo).stem[:40] or "photo"
    return base / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}" / "tuned.safetensors"


def save_tuned(path: str | os.PathLike, model: Any, base: str, photo: str = "") -> Path:
    """Tuned weights in our format, with the base model's path and sha256 in the card."""
    from .checkpoint import save_checkpoint
    from .generator import Generator
    from .importers import save_imported, sha256_of

    card = {"tuned_from": base, "base_sha256": sha256_of(base) if Path(base).is_file() else "", "photo": photo}
    if isinstance(model, Generator):
        return save_checkpoint(path, model, meta=card)
    return save_imported(path, model, {**card, "source": base})


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio of two pictures in [-1, 1], in dB (peak 2)."""
    mse = float((a.clamp(-1, 1) - b).square().mean())
    return 10 * math.log10(4 / max(mse, 1e-12))


def reconstruction_loss(image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    loss = F.mse_loss(image, target)
    for k in (2, 4):
        loss = loss + F.mse_loss(F.avg_pool2d(image, k), F.avg_pool2d(target, k))
    return loss


GRID = (0.2, 0.35, 0.5, 0.65, 0.8)  # where the coarse search puts a single object's root


def _moved(spec: HeatmapSpec | None, x: float, y: float) -> HeatmapSpec | None:
    """`spec` with its first object (and its sub-tree) moved to (x, y)."""
    if spec is None:
        return None
    out = spec.copy()
    out.move_to(0, 0, x, y)
    return out


def _layout_params(batch: HeatmapBatch) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    centres = [lv.centres.detach().clone().requires_grad_(True) for lv in batch.levels]
    log_sigmas = [lv.sigmas.detach().clamp_min(1e-3).log().requires_grad_(True) for lv in batch.levels]
    return centres, log_sigmas


def _layout(batch: HeatmapBatch, centres: list[torch.Tensor], log_sigmas: list[torch.Tensor]) -> HeatmapBatch:
    levels = [HeatmapLevel(c, s.exp().clamp(0.01, 1.0), lv.weights) for c, s, lv in zip(centres, log_sigmas,
                                                                                         batch.levels)]
    return HeatmapBatch(batch.mode, levels, batch.parents)


def invert(G: SteerableModel, target: torch.Tensor, cfg: InversionConfig = InversionConfig(), tune: bool = True,
           callback: Callable[[str, int, float], None] | None = None,
           cancelled: Callable[[], bool] = lambda: False) -> InversionResult:
    """Invert `target` (1, 3, R, R) in [-1, 1] (see `spatialgan.photo`) into G's latent and layout, and with `tune`
    into PTI-tuned weights. `callback(stage, step, loss)` reports progress; `cancelled()` stops at the next step
    and the result holds what was reached."""
    t0 = time.perf_counter()
    caps = G.capabilities
    device = next(G.parameters()).device
    target = target.to(device)
    frozen = fuse(copy.deepcopy(G))  # the search runs on the fast inference copy; G itself is left as it is
    with torch.no_grad():
        candidates = [G.seed_ws(s, psi=0.5).to(device) for s in range(cfg.starts)]
        candidates.insert(0, G.mean_ws().to(device))
        layouts: list[HeatmapSpec | None] = [None]
        if caps.has_heatmaps:
            layouts = [G.default_layout(s) for s in range(max(1, cfg.starts))]
            if caps.layout == "hierarchical":  # one object: also its tree moved over a grid of places
                layouts += [_moved(layouts[0], x, y) for x in GRID for y in GRID]
        scored = [(reconstruction_loss(render(frozen, ws, spec.to_batch(device) if spec else None).image, target),
                   i, j) for i, ws in enumerate(candidates) for j, spec in enumerate(layouts)]
        _, i, j = min(scored, key=lambda x: float(x[0]))
    ws, spec0 = candidates[i].clone(), layouts[j]
    batch = spec0.to_batch(device) if spec0 is not None else None
    result = InversionResult(ws, spec0, G, target, {})

    def run(stage: str, steps: int, params: list[torch.Tensor], lr: float,
            picture: Callable[[], torch.Tensor], extra: Callable[[], torch.Tensor] | None = None,
            layout: list[torch.Tensor] = ()) -> None:
        if steps <= 0 or not params:
            return
        groups = [{"params": params, "lr": lr}] + ([{"params": list(layout), "lr": cfg.lr_layout}] if layout else [])
        opt = torch.optim.Adam(groups)
        for step in range(steps):
            if cancelled():
                return
            loss = reconstruction_loss(picture(), target)
            total = loss + extra() if extra is not None else loss
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if callback is not None:
                callback(stage, step, float(loss.detach()))

    # 2. W with the layout: one w per code, broadcast to every layer. The layout is fitted here, while the latent
    # is still narrow; W+ alone is free enough to draw an object away from its centre and would leave it there.
    w = ws[:, :, :1].clone().requires_grad_(True)
    centres, log_sigmas = _layout_params(batch) if batch is not None else ([], [])
    current = (lambda: _layout(batch, centres, log_sigmas)) if batch is not None else (lambda: None)
    run("w", cfg.w_steps, [w], cfg.lr_w, lambda: render(frozen, w.expand_as(ws), current()).image,
        layout=[*centres, *log_sigmas])
    ws = w.detach().expand_as(ws).clone()
    with torch.no_grad():
        result.psnr["w"] = psnr(render(frozen, ws, current()).image, target)
    # 3. W+ with the layout
    wplus = ws.clone().requires_grad_(True)
    run("w+", cfg.wplus_steps, [wplus], cfg.lr_w, lambda: render(frozen, wplus, current()).image,
        layout=[*centres, *log_sigmas])
    ws = wplus.detach()
    if batch is not None:
        batch = _layout(batch, [c.detach() for c in centres], [s.detach() for s in log_sigmas])
        spec = HeatmapSpec.from_batch(batch)
        assert spec0 is not None
        for level, level0 in zip(spec.levels, spec0.levels):  # keep the switches; weights are not optimised
            for c, c0 in zip(level, level0):
                c.weight, c.enabled = c0.weight, c0.enabled
        result.spec = spec
    with torch.no_grad():
        result.psnr["w+"] = psnr(render(frozen, ws, batch).image, target)
    result.ws = ws
    # 4. PTI: tune the weights around this latent; other latents' pictures stay
    model = G
    if tune and cfg.pti_steps > 0:
        tuned = copy.deepcopy(G).eval().requires_grad_(True)
        with torch.no_grad():
            others = [G.seed_ws(10_000 + s, psi=0.7).to(device) for s in range(cfg.locality_samples)]
            layout_o = [batch] * len(others)
            kept = [render(frozen, o, b).image for o, b in zip(others, layout_o)]

        def locality() -> torch.Tensor:
            k = len(others)
            return cfg.locality * sum(F.mse_loss(render(tuned, o, b).image, ref)
                                      for o, b, ref in zip(others, layout_o, kept)) / max(k, 1)

        params = [p for p in tuned.parameters() if p.requires_grad]
        run("pti", cfg.pti_steps, params, cfg.lr_pti, lambda: render(tuned, ws, batch).image,
            locality if cfg.locality > 0 and others else None)
        model = tuned.eval().requires_grad_(False)
    with torch.no_grad():
        result.image = render(model, ws, batch).image
        result.psnr["final"] = psnr(result.image, target)
    result.model = model
    result.seconds = time.perf_counter() - t0
    return result
