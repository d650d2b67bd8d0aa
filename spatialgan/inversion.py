"""Inverting a photo into a latent, a heatmap layout and tuned weights, staged as the field does it:

1. starts: the mean w and a few seeds' w, with a few seeds' layouts for heatmap models, the best pair kept;
2. W: one w per code, broadcast to every layer. The first third of its steps matches the photo's colours with the
   layout held. Then each object's root goes where the photo differs from the model's own picture of that latent
   with every object removed (`find_objects`): the generator serves as its own object finder, so no discriminator
   is needed. The rest of the steps fit w with the layout (centres and sigmas: the heatmap render is
   differentiable in them), under a prior that keeps the layout like the trained ones (`LayoutFit`);
3. W+: every layer's w, with the layout still fitted;
4. pivotal tuning (PTI): the generator's weights fine-tuned around the found latent until the reconstruction is
   close, with a locality term that keeps other latents' pictures as they were, so that edits still behave.

The loss is the mean squared error of the picture and of its 2x and 4x average-pooled versions: it weighs coarse
structure more than pixel noise. `InversionConfig.perceptual` adds a distance on Inception features
(`spatialgan.metrics.perceptual`). Each stage reports every step to a callback and checks a cancel flag; a
cancelled inversion returns what it has reached.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.nn.functional as F

from .device import keep_freed_memory
from .fused import fuse
from .heatmaps import HeatmapBatch, HeatmapLevel, HeatmapSpec, HierarchicalSampling, MultiObjectSampling
from .model import SteerableModel
from .paths import cache_dir
from .render import render

if TYPE_CHECKING:
    from .metrics.perceptual import InceptionDistance


Draw = Callable[[], tuple[torch.Tensor, torch.Tensor | None]]  # a step's picture and its loss besides the photo's


@dataclass(frozen=True)
class InversionConfig:
    starts: int = 4  # seeds tried as starting latents (and layouts), besides the mean w
    w_steps: int = 100
    wplus_steps: int = 100
    pti_steps: int = 100
    lr_w: float = 0.03
    lr_layout: float = 0.005  # image units per step for centres; sigmas move in log space at the same rate
    # a larger PTI step reconstructs better but moves other pictures more (bench/inversion.py measures both)
    lr_pti: float = 1e-3
    locality: float = 1.0  # weight of the PTI locality term
    locality_samples: int = 4  # other latents whose pictures PTI keeps
    # Weight of the Inception feature distance (`spatialgan.metrics.perceptual`) added to the pixel loss. Off by
    # default: at 0.5 it reconstructs about 0.5 dB better but moves other pictures more (bench/inversion.py), and
    # it needs the FID wheel, which the editor does not otherwise install.
    perceptual: float = 0.0
    layout_prior: float = 1e-3  # weight of the prior that keeps the layout like the trained ones (`LayoutFit`)


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


@functools.lru_cache(maxsize=2)
def inception_distance(device: torch.device) -> "InceptionDistance":
    """The perceptual distance, loaded once per device (it reads the FID wheel's Inception file)."""
    from .metrics.perceptual import InceptionDistance  # only when asked for: `spatialgan.metrics` is the measures

    return InceptionDistance().to(device)


def reconstruction_loss(image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    loss = F.mse_loss(image, target)
    for k in (2, 4):
        loss = loss + F.mse_loss(F.avg_pool2d(image, k), F.avg_pool2d(target, k))
    return loss


ANCHOR = 0.05  # how far (one standard deviation, image units) a placed root may settle


class LayoutFit:
    """A layout as the optimiser sees it. Every centre is its root's place plus an offset, so a moved root carries
    its tree, and a prior keeps the layout like those the model was trained on (`spatialgan.heatmaps.sampling`):
    offsets from the root ~ N(0, child_std), roots and objects inside the sampled box, sigmas inside the sampled
    widths. Without it the finer centres can wander off to draw the object while the root, the object's handle
    in the editor, stays behind."""

    def __init__(self, batch: HeatmapBatch, weight: float) -> None:
        self.mode, self.parents, self.weights = batch.mode, batch.parents, [lv.weights for lv in batch.levels]
        self.weight = weight
        self.roots: list[list[int]] = []  # each centre's root in level 0
        for li, parents in enumerate(batch.parents):
            self.roots.append([i if li == 0 else self.roots[li - 1][p] for i, p in enumerate(parents)])
        root = batch.levels[0].centres.detach()
        self.root = root.clone().requires_grad_(True)
        self.anchor: torch.Tensor | None = None  # where `place` put the roots
        self.offsets = [(lv.centres.detach() - root[:, self.roots[li]]).requires_grad_(True)
                        for li, lv in enumerate(batch.levels) if li > 0]
        self.log_sigmas = [lv.sigmas.detach().clamp_min(1e-3).log().requires_grad_(True) for lv in batch.levels]
        if self.mode == "hierarchical":
            sampling = HierarchicalSampling()
            self.box, self.spread = sampling.root_range, sampling.child_std
            self.sigma_box = [sampling.sigma_range(li) for li in range(len(batch.levels))]
        else:  # independent objects: no offsets to keep close
            objects = MultiObjectSampling()
            self.box, self.spread = objects.centre_range, 1.0
            self.sigma_box = [objects.sigma_range]

    def place(self, places: list[tuple[float, float]]) -> None:
        """Move the roots (and so their trees) to `places`, each to the nearest free one."""
        with torch.no_grad():
            roots = self.root[0].tolist()
            free = list(places)
            for i in sorted(range(len(roots)), key=lambda i: min(math.dist(roots[i], p) for p in free)):
                j = min(range(len(free)), key=lambda j: math.dist(roots[i], free[j]))
                self.root[0, i] = torch.tensor(free.pop(j), dtype=self.root.dtype)
            self.anchor = self.root.detach().clone()

    @property
    def params(self) -> list[torch.Tensor]:
        return [self.root, *self.offsets, *self.log_sigmas]

    def batch(self) -> HeatmapBatch:
        centres = [self.root] + [self.root[:, self.roots[li + 1]] + off for li, off in enumerate(self.offsets)]
        levels = [HeatmapLevel(c, s.exp().clamp(0.01, 1.0), w) for c, s, w in zip(centres, self.log_sigmas,
                                                                                   self.weights)]
        return HeatmapBatch(self.mode, levels, self.parents)

    def prior(self) -> torch.Tensor:
        """Minus the log-density of the layout under the sampler, up to a constant: a Gaussian on the offsets (and
        on the roots around where `place` saw the objects), steep walls outside the sampled boxes and widths."""
        lo, hi = self.box
        out = (F.relu(lo - self.root) + F.relu(self.root - hi)).square().sum() * 100  # 0.1 outside costs 1
        if self.anchor is not None:  # the objects were seen here: the roots may settle, not wander
            out = out + 0.5 * ((self.root - self.anchor) / ANCHOR).square().sum()
        for off in self.offsets:
            out = out + 0.5 * (off / self.spread).square().sum()
        for s, (a, b) in zip(self.log_sigmas, self.sigma_box):
            out = out + (F.relu(math.log(a) - s) + F.relu(s - math.log(b))).square().sum()
        return self.weight * out


def find_objects(photo: torch.Tensor, background: torch.Tensor, count: int, iterations: int = 10) -> list[tuple[float, float]]:
    """Where `count` objects are in `photo` (1, 3, R, R): where it differs from `background`, the model's own picture
    of the fitted latent with every object removed. The difference, blurred and with its median level taken off,
    weighs each pixel; one object sits at its weighted centroid, several are its weighted k-means clusters, seeded
    at the strongest peaks. This needs nothing but the generator, so it serves models that ship no discriminator."""
    r = photo.shape[-1]
    k = max(3, r // 12) | 1  # about 1/12 of the image: blurs texture, keeps objects apart
    d = F.avg_pool2d((photo - background).abs().mean(1, keepdim=True), k, 1, k // 2, count_include_pad=False)[0, 0]
    mass = (d - d.median()).clamp_min(0).square().flatten().double()
    if float(mass.sum()) <= 0:
        return [(0.5, 0.5)] * count
    axis = (torch.arange(r, dtype=torch.float64, device=d.device) + 0.5) / r
    points = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), -1).reshape(-1, 2)  # (x, y) per pixel
    centres = []
    left = mass.clone()
    for _ in range(count):  # seeds: the strongest remaining peak, then its neighbourhood put aside
        c = points[int(left.argmax())]
        centres.append(c)
        left = left * ((points - c).norm(dim=1) > 0.15)
    c = torch.stack(centres)
    for _ in range(iterations):  # weighted k-means
        nearest = torch.cdist(points, c).argmin(1)
        for j in range(count):
            m = mass * (nearest == j)
            if float(m.sum()) > 0:
                c[j] = (points * m[:, None]).sum(0) / m.sum()
    return [(float(x), float(y)) for x, y in c]


def invert(G: SteerableModel, target: torch.Tensor, cfg: InversionConfig = InversionConfig(), tune: bool = True,
           callback: Callable[[str, int, float], None] | None = None,
           cancelled: Callable[[], bool] = lambda: False) -> InversionResult:
    """Invert `target` (1, 3, R, R) in [-1, 1] (see `spatialgan.photo`) into G's latent and layout, and with `tune`
    into PTI-tuned weights. `callback(stage, step, loss)` reports progress; `cancelled()` stops at the next step
    and the result holds what was reached."""
    t0 = time.perf_counter()
    caps = G.capabilities
    device = next(G.parameters()).device
    if device.type == "cpu":
        keep_freed_memory()  # a 1024 px step frees and reallocates blocks of 100+ MB: unmapped, each refaults
    target = target.to(device)
    frozen = fuse(copy.deepcopy(G))  # the search runs on the fast inference copy; G itself is left as it is
    with torch.no_grad():
        candidates = [G.seed_ws(s, psi=0.5).to(device) for s in range(cfg.starts)]
        candidates.insert(0, G.mean_ws().to(device))
        layouts: list[HeatmapSpec | None] = [None]
        if caps.has_heatmaps:
            layouts = [G.default_layout(s) for s in range(max(1, cfg.starts))]
        scored = [(reconstruction_loss(render(frozen, ws, spec.to_batch(device) if spec else None).image, target),
                   i, j) for i, ws in enumerate(candidates) for j, spec in enumerate(layouts)]
        _, i, j = min(scored, key=lambda x: float(x[0]))
    ws, spec0 = candidates[i].clone(), layouts[j]
    batch = spec0.to_batch(device) if spec0 is not None else None
    result = InversionResult(ws, spec0, G, target, {})
    distance = inception_distance(device) if cfg.perceptual > 0 else None

    def run(stage: str, steps: int, params: list[torch.Tensor], lr: float, draw: Draw,
            layout: list[torch.Tensor] = (), first: int = 0) -> None:
        """`steps` Adam steps on `params` (and `layout` at its own rate); `draw()` gives the picture and any loss
        term besides the reconstruction."""
        if steps <= 0 or not params:
            return
        groups = [{"params": params, "lr": lr}] + ([{"params": list(layout), "lr": cfg.lr_layout}] if layout else [])
        opt = torch.optim.Adam(groups)
        for step in range(steps):
            if cancelled():
                return
            image, extra = draw()
            loss = reconstruction_loss(image, target)
            if distance is not None:
                loss = loss + cfg.perceptual * distance(image, target).mean()
            total = loss + extra if extra is not None else loss
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if callback is not None:
                callback(stage, first + step, float(loss.detach()))

    # 2. W: one w per code, broadcast to every layer. Its first share of steps matches the photo's colours with the
    # layout held; then the objects are placed where the photo differs from the model's picture without them
    # (`find_objects`), and w and the layout are fitted together. The layout is placed here, while the latent is
    # still narrow: a model draws an object where W+ asks, heatmap or not, and would leave the centres behind.
    w = ws[:, :, :1].clone().requires_grad_(True)
    fit = LayoutFit(batch, cfg.layout_prior) if batch is not None else None
    current = fit.batch if fit is not None else (lambda: None)
    layout = fit.params if fit is not None else []

    def fitted(latent: Callable[[], torch.Tensor]) -> Draw:  # the picture with the fitted layout, and its prior
        return lambda: (render(frozen, latent(), current()).image, fit.prior() if fit is not None else None)

    held = cfg.w_steps // 3 if fit is not None else 0
    with torch.no_grad():
        start = current()  # the layout as it is held: no gradient to it
    run("w", held, [w], cfg.lr_w, lambda: (render(frozen, w.expand_as(ws), start).image, None))
    if fit is not None and not cancelled():
        with torch.no_grad():
            empty = fit.batch()
            empty.levels = [HeatmapLevel(lv.centres, lv.sigmas, torch.zeros_like(lv.weights)) for lv in empty.levels]
            background = render(frozen, w.expand_as(ws), empty).image
            fit.place(find_objects(target, background, fit.root.shape[1]))
    run("w", cfg.w_steps - held, [w], cfg.lr_w, fitted(lambda: w.expand_as(ws)), layout, first=held)
    ws = w.detach().expand_as(ws).clone()
    with torch.no_grad():
        result.psnr["w"] = psnr(render(frozen, ws, current()).image, target)
    # 3. W+ with the layout
    wplus = ws.clone().requires_grad_(True)
    run("w+", cfg.wplus_steps, [wplus], cfg.lr_w, fitted(lambda: wplus), layout)
    ws = wplus.detach()
    if fit is not None:
        with torch.no_grad():
            batch = fit.batch()
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
        model = _pivotal_tuning(G, frozen, ws, batch, cfg, run)
    with torch.no_grad():
        result.image = render(model, ws, batch).image
        result.psnr["final"] = psnr(result.image, target)
    result.model = model
    result.seconds = time.perf_counter() - t0
    return result


def _pivotal_tuning(G: SteerableModel, frozen: SteerableModel, ws: torch.Tensor, batch: HeatmapBatch | None,
                    cfg: InversionConfig, run: Callable[..., None]) -> SteerableModel:
    """A copy of G whose weights are tuned until it draws `target` at `ws` (PTI). The locality term keeps other
    latents' pictures: each step draws the photo's latent and one other latent, in turn, as one batch of two. On
    pets64 that halves the stage's time against drawing every other latent at every step, within 0.15 dB and with
    no more drift of the other pictures (docs/measurements.md, photo inversion)."""
    device = ws.device
    tuned = copy.deepcopy(G).eval().requires_grad_(True)
    k = cfg.locality_samples if cfg.locality > 0 else 0
    with torch.no_grad():
        others = torch.cat([G.seed_ws(10_000 + s, psi=0.7).to(device) for s in range(k)]) if k else None
        kept = render(frozen, others, batch.repeat(k) if batch is not None else None).image if k else None
    pair = batch.repeat(2) if batch is not None else None
    turn = itertools.count()

    def draw() -> tuple[torch.Tensor, torch.Tensor | None]:
        if others is None:
            return render(tuned, ws, batch).image, None
        j = next(turn) % k
        both = render(tuned, torch.cat([ws, others[j:j + 1]]), pair).image
        return both[:1], cfg.locality * F.mse_loss(both[1:], kept[j:j + 1])

    params = [p for p in tuned.parameters() if p.requires_grad]
    run("pti", cfg.pti_steps, params, cfg.lr_pti, draw)
    return tuned.eval().requires_grad_(False)
