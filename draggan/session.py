"""A drag edit as a small state machine: `DragSession.step() -> StepResult`, with a callback and a cancel flag.

Modes (paper Sec. 3.4): "draggan" optimises the first k entries of w+ only (classic DragGAN, also for plain
StyleGAN2 models); "joint" alternates one update of w with one of the heatmap centres; "hybrid" first moves
every centre within `hybrid_radius` of a handle by alpha * (t - p) (Eq. 6), finds the handles again in the moved
image, then refines jointly. An object move (`spatialgan.objects`) is the same coarse-to-fine idea for models
without centres: its feature edit moves the selected region first, the handles spread over the region are found
again in the moved picture, and w is refined with the edit in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from spatialgan import HeatmapBatch, HeatmapSpec
from spatialgan.carry import Homes, homes_tensor
from spatialgan.device import keep_freed_memory
from spatialgan.errors import SpatialGANError
from spatialgan.heatmaps import HeatmapLevel
from spatialgan.limits import is_number
from spatialgan.model import SteerableModel
from spatialgan.objects import ObjectEdit
from spatialgan.render import PartialRender, render_until

from .config import DragConfig
from .motion import motion_loss, sample_features, track_points

Point = tuple[float, float]


class DragError(SpatialGANError, ValueError):
    """Bad drag input: no points, points outside the image, handle equal to target, wrong model for a mode."""


@dataclass
class StepResult:
    step: int
    render: Callable[[], torch.Tensor] = field(repr=False)  # draws the image of this step, see `image`
    points: list[Point]  # tracked handle positions, pixels
    distances: list[float]  # |handle - target| in pixels
    done: bool
    loss: float = float("nan")
    phase: str = "w"  # what this step updated: "w", "centres" or "none"
    error: str = ""  # set when the optimisation failed (NaN) and the last good state was restored
    # the picture at the feature tap's block, already drawn by the step (None where the architecture has none):
    # a draft to show while a large model refines, instead of drawing the rest of the image every step
    draft: torch.Tensor | None = field(default=None, repr=False)
    _image: torch.Tensor | None = field(default=None, init=False, repr=False)

    @property
    def image(self) -> torch.Tensor:
        """(1, 3, R, R) of the latent and centres this step started from. Drawn on first access: the synthesis
        blocks after the feature tap only matter for display, so headless runs skip them."""
        if self._image is None:
            self._image = self.render()
        return self._image


def coarse_move(spec: HeatmapSpec, handles: Sequence[Point], targets: Sequence[Point], resolution: int,
                radius: float, alpha: float) -> tuple[HeatmapSpec, list[Point]]:
    """Eq. 6: c_i := c_i + alpha * (t - p) for every centre within `radius` (image units) of a handle p.
    A moved centre carries its descendants, so those are not moved twice. Returns the new spec and each
    handle's expected new position (where the moved object should now be)."""
    spec = spec.copy()
    priors = []
    for (px, py), (tx, ty) in zip(handles, targets):
        p = (px / resolution, py / resolution)
        d = (alpha * (tx - px) / resolution, alpha * (ty - py) / resolution)
        moved: set[tuple[int, int]] = set()
        for li, level in enumerate(spec.levels):
            for ci in range(len(level)):
                if (li, ci) in moved:
                    continue
                x, y = spec.absolute(li, ci)
                if math.hypot(x - p[0], y - p[1]) <= radius:
                    spec.move_by(li, ci, *d)
                    moved.update(spec.subtree(li, ci))
        priors.append((px + alpha * (tx - px), py + alpha * (ty - py)) if moved else (px, py))
    return spec, priors


class DragSession:
    """One drag edit of the picture of `ws` and `spec`. `homes`: each object's home (`spatialgan.carry`), whose
    look it keeps when its centre moves; None: where the objects are in `spec`. `edits`: objects already moved or
    removed in the picture (`spatialgan.objects`); `object_move`: this drag's coarse move of a selected object,
    applied after the handles' features are read (the handles lie on the object, the targets where it goes)."""

    def __init__(self, G: SteerableModel, ws: torch.Tensor, spec: HeatmapSpec | None, handles: Sequence[Point],
                 targets: Sequence[Point], mask: torch.Tensor | None = None, config: DragConfig = DragConfig(),
                 callback: Callable[[StepResult], None] | None = None, homes: Homes | None = None,
                 edits: Sequence[ObjectEdit] = (), object_move: ObjectEdit | None = None) -> None:
        cfg, caps = config, G.capabilities
        res = caps.resolution
        self._validate(G, ws, spec, handles, targets, mask, cfg)
        if object_move is not None and cfg.mode == "hybrid":
            raise DragError("an object move is the drag's coarse move itself: refine it in mode 'draggan' or 'joint'")
        self.edits = list(edits)
        self.G, self.cfg, self.callback, self.res = G, cfg, callback, res
        self.device = ws.device
        if self.device.type == "cpu":
            keep_freed_memory()  # large models' steps free and reallocate blocks that would refault page by page
        self.block = cfg.feature_block or caps.default_tap
        if self.block not in caps.tap_blocks:
            raise DragError(f"feature_block {self.block} is not a block DragGAN can tap ({caps.tap_blocks})")
        self.r1, self.r2 = cfg.radius1(res), cfg.radius2(res)
        self.stop = cfg.stop_at(len(handles))
        self.targets = torch.tensor(targets, dtype=torch.float32, device=self.device)
        handles_t = torch.tensor(handles, dtype=torch.float32, device=self.device)
        self.mask = mask.to(self.device) if mask is not None else None
        self.k = min(cfg.free_layers, caps.num_ws)
        self.ws0 = ws.detach()
        if cfg.latent == "w":  # one offset added to every layer's w: optimising w itself when w+ is uniform
            self.w_free = torch.zeros_like(self.ws0[:, :, :1]).requires_grad_(True)
        else:  # w+: the first k layers' codes, the rest stay at w0 (DragGAN's choice)
            self.w_free = self.ws0[:, :, : self.k].clone().requires_grad_(True)
        self.uses_centres = cfg.mode in ("joint", "hybrid")

        self.spec0 = spec.copy() if spec is not None else None
        self.template: HeatmapBatch | None = spec.to_batch(self.device) if spec is not None else None
        # Objects carry their look from home (as the editor renders them); the blend comes at or before the tap.
        # A mode that keeps the centres where they are needs no carry while every object is at home (it would give
        # the plain picture at twice the coarse blocks' cost).
        self.home: torch.Tensor | None = None
        if spec is not None and cfg.carry_resolution is not None:
            self.home = homes_tensor(spec, homes if homes is not None else spec.object_places(), self.device,
                                     always=self.uses_centres)
        with torch.no_grad():  # handle features f_i and the unmasked reference F0 come from the original image
            part0, feat0 = self._forward(self._ws(), self._layout())
        self._part0, self._image0, self.feat0 = part0, None, feat0
        self.handle_features = sample_features(feat0, handles_t, res)
        self.points = handles_t
        if object_move is not None:
            self.edits.append(object_move)
            shift = object_move.shift or (0.0, 0.0)
            priors = handles_t + torch.tensor(shift, device=self.device) * res
            self.points = self._relocate(handles_t, priors) if cfg.relocate else priors
        if cfg.mode == "hybrid" and spec is not None:
            spec, priors = coarse_move(spec, handles, targets, res, cfg.hybrid_radius, cfg.alpha)
            self.template = spec.to_batch(self.device)
            self.points = torch.tensor(priors, dtype=torch.float32, device=self.device)
            if cfg.relocate:
                self.points = self._relocate(handles_t, self.points)
        self.centres = ([lv.centres.clone().requires_grad_(self.uses_centres) for lv in self.template.levels]
                        if self.template is not None else [])
        self.opt_w = torch.optim.Adam([self.w_free], lr=cfg.lr)
        self.opt_c = torch.optim.Adam(self.centres, lr=cfg.centre_lr) if self.uses_centres else None
        self.step_count = 0
        self.done = False
        self.cancelled = False
        self._good = self._state()
        self.last: StepResult | None = None

    @property
    def image0(self) -> torch.Tensor:
        """(1, 3, R, R): the picture the drag started from, drawn on first use (a refine that steps never needs
        it, and at 1024 px it costs a second)."""
        if self._image0 is None:
            self._image0 = self._part0.finish()
        return self._image0

    # ---- validation -----------------------------------------------------------------------------------
    @staticmethod
    def _validate(G: SteerableModel, ws: torch.Tensor, spec: HeatmapSpec | None, handles: Sequence[Point],
                  targets: Sequence[Point], mask: torch.Tensor | None, cfg: DragConfig) -> None:
        caps = G.capabilities
        res = caps.resolution
        if not isinstance(ws, torch.Tensor) or ws.ndim != 4 or ws.shape[0] != 1 or tuple(ws.shape[2:]) != (
                caps.num_ws, caps.w_dim) or ws.shape[1] != caps.num_codes:
            shape = tuple(ws.shape) if isinstance(ws, torch.Tensor) else type(ws).__name__
            raise DragError(f"w+ must have shape (1, {caps.num_codes}, {caps.num_ws}, {caps.w_dim}) for this model, "
                            f"got {shape}")
        if not handles:
            raise DragError("no handle points: click at least one handle and its target")
        if len(handles) != len(targets):
            raise DragError(f"{len(handles)} handle(s) but {len(targets)} target(s): every handle needs one target")
        for name, pts in (("handle", handles), ("target", targets)):
            for i, p in enumerate(pts):
                if not (isinstance(p, (tuple, list)) and len(p) == 2 and all(is_number(v) for v in p)):
                    raise DragError(f"{name} {i} must be two numbers (x, y), got {str(p)[:60]}")
                x, y = p
                if not (0 <= x <= res - 1 and 0 <= y <= res - 1):
                    raise DragError(f"{name} {i} at ({x}, {y}) is outside the {res}x{res} image")
        for i, (h, t) in enumerate(zip(handles, targets)):
            if math.hypot(h[0] - t[0], h[1] - t[1]) < 1e-6:
                raise DragError(f"handle {i} is already at its target ({h[0]}, {h[1]}): nothing to drag")
        if cfg.mode != "draggan" and not caps.moves_objects:
            raise DragError(f"mode {cfg.mode!r} moves heatmap centres, but this model has none; use mode 'draggan'")
        if caps.has_heatmaps:
            if spec is None:
                raise DragError("this model needs a heatmap spec")
            G.check_layout(spec)
        if mask is not None and tuple(mask.shape) != (res, res):
            raise DragError(f"the mask must be {res}x{res}, got {tuple(mask.shape)}")
        if mask is not None and not bool(((mask >= 0) & (mask <= 1)).all()):
            raise DragError("the mask must hold values in [0, 1] (1 where the image may change), not NaN")

    # ---- model ----------------------------------------------------------------------------------------
    def _ws(self) -> torch.Tensor:
        if self.cfg.latent == "w":
            return self.ws0 + self.w_free
        return torch.cat([self.w_free, self.ws0[:, :, self.k:]], 2)

    def _layout(self, centres: list[torch.Tensor] | None = None) -> HeatmapBatch | None:
        """The template's heatmaps with `centres` (default: the template's own)."""
        if self.template is None:
            return None
        centres = centres if centres is not None else [lv.centres for lv in self.template.levels]
        levels = [HeatmapLevel(c, lv.sigmas, lv.weights) for c, lv in zip(centres, self.template.levels)]
        return HeatmapBatch(self.template.mode, levels, self.template.parents)

    def _fixed_layout(self) -> HeatmapBatch | None:
        """The current centres without autograd (a w step keeps them fixed)."""
        return self._layout([c.detach() for c in self.centres]) if self.template is not None else None

    def _forward(self, ws: torch.Tensor, layout: HeatmapBatch | None) -> tuple[PartialRender, torch.Tensor]:
        """Run the synthesis blocks up to the feature tap and return (the partial render, whose `finish` draws the
        image, the tapped features at the tap's resolution: `draggan.motion` reads them at image pixels). The
        blocks after the tap feed no loss, so they run later, without autograd, and only if someone looks at the
        image."""
        part = render_until(self.G, ws, layout, self.block, homes=self.home,
                            carry_at=self.cfg.carry_resolution or self.block, edits=self.edits)
        return part, part.features

    @torch.no_grad()
    def _relocate(self, handles: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
        """Each handle's feature f_i searched in the coarse-moved image over a square that holds both the handle
        and its prior (centred between them, reaching r2 beyond either), so content that followed the centre
        only part of the way, or not at all, is found where it is."""
        feat = self._forward(self._ws(), self._layout())[1]
        found = []
        for h, p, f in zip(handles, priors, self.handle_features):
            reach = int(math.ceil(float((p - h).abs().max()) / 2)) + self.r2
            found.append(track_points(feat, f[None], ((h + p) / 2)[None], reach, self.res)[0])
        return torch.stack(found)

    def _state(self) -> tuple:
        return self.w_free.detach().clone(), [c.detach().clone() for c in self.centres], self.points.clone()

    def _restore(self, state: tuple) -> None:
        w, centres, points = state
        with torch.no_grad():
            self.w_free.copy_(w)
            for c, s in zip(self.centres, centres):
                c.copy_(s)
        self.points = points.clone()

    # ---- public ---------------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop before the next step (safe to call from another thread)."""
        self.cancelled = True

    def spec(self) -> HeatmapSpec | None:
        """The heatmap spec with the current (optimised) centres."""
        if self.template is None:
            return None
        levels = [HeatmapLevel(c.detach(), lv.sigmas, lv.weights) for c, lv in zip(self.centres, self.template.levels)]
        spec = HeatmapSpec.from_batch(HeatmapBatch(self.template.mode, levels, self.template.parents))
        assert self.spec0 is not None
        # A refine moves centres only: weights and on/off switches stay as they were (the batch folds a
        # switched-off centre into weight 0, which would lose its weight for restoring it).
        for level, level0 in zip(spec.levels, self.spec0.levels):
            for c, c0 in zip(level, level0):
                c.weight, c.enabled = c0.weight, c0.enabled
        return spec

    @torch.no_grad()
    def find_handles(self) -> list[Point]:
        """Where each handle's initial feature f_i is now: the nearest neighbour over the whole feature map of the
        current w and centres. An independent check of an edit: tracking only searches within r2 of the last
        point, and the hybrid mode without `relocate` starts it at the coarse move's prior, near the target."""
        feat = self._forward(self.ws(), self._fixed_layout())[1]
        found = track_points(feat, self.handle_features, torch.full_like(self.points, self.res / 2), self.res,
                             self.res)
        return [tuple(p) for p in found.tolist()]

    def ws(self) -> torch.Tensor:
        return self._ws().detach()

    @torch.no_grad()
    def render(self) -> torch.Tensor:
        """(1, 3, R, R): the image of the current w and centres, as the editor draws it (objects carried)."""
        return self._forward(self.ws(), self._fixed_layout())[0].finish()

    def _result(self, part: PartialRender | Callable[[], torch.Tensor], loss: float, phase: str,
                error: str = "") -> StepResult:
        dist = (self.points - self.targets).norm(dim=1).tolist()
        # Out of steps only counts once the last update has been tracked (a phase "none" result), so the final
        # points, distances and image always describe the final w and centres.
        self.done = (self.done or all(d <= self.stop for d in dist)
                     or (phase == "none" and self.step_count >= self.cfg.max_steps))
        draw = part.finish if isinstance(part, PartialRender) else part
        draft = part.draft() if isinstance(part, PartialRender) else None
        res = StepResult(self.step_count, draw, [tuple(p) for p in self.points.tolist()], dist, self.done,
                         loss, phase, error, draft)
        self.last = res
        if self.callback is not None:
            self.callback(res)
        return res

    def step(self) -> StepResult:
        """One iteration: render, track the handles in the new features, stop if they arrived, otherwise apply
        motion supervision and update w (or, every other step in joint/hybrid, the centres)."""
        if self.cancelled or (self.done and self.last is not None):
            self.done = True
            return self.last if self.last is not None else self._result(lambda: self.image0, float("nan"), "none")
        # Only the tensors this step updates need gradients: a w step keeps the centres fixed, a centres step keeps
        # w fixed. Same losses and updates as computing every gradient, without the wasted backward passes.
        update_centres = self.opt_c is not None and self.step_count % 2 == 1
        if update_centres:
            image, feat = self._forward(self._ws().detach(), self._layout(self.centres))
        else:
            image, feat = self._forward(self._ws(), self._fixed_layout())
        self.points = track_points(feat.detach(), self.handle_features, self.points, self.r2, self.res)
        dist = (self.points - self.targets).norm(dim=1)
        if bool((dist <= self.stop).all()) or self.step_count >= self.cfg.max_steps:
            return self._result(image, float("nan"), "none")
        loss = motion_loss(feat, self.points, self.targets, self.r1, self.feat0, self.mask, self.cfg.mask_weight,
                           self.res)
        if not torch.isfinite(loss):
            self._restore(self._good)
            self.done = True
            return self._result(image, float("nan"), "none",
                                "the optimisation produced NaN; stopped and kept the last good state")
        opt = self.opt_c if update_centres else self.opt_w
        params = self.centres if update_centres else [self.w_free]
        opt.zero_grad(set_to_none=True)  # type: ignore[union-attr]
        # `inputs=` restricts the backward pass to what is optimised: the generator's own weights get no
        # gradients (that was most of the cost of a step, and would leave .grad on a shared model).
        loss.backward(inputs=params)
        opt.step()  # type: ignore[union-attr]
        self.step_count += 1
        if not all(bool(torch.isfinite(t).all()) for t in [self.w_free, *self.centres]):
            self._restore(self._good)
            self.done = True
            return self._result(image, float("nan"), "none", "the update produced NaN; stopped and kept the last good state")
        self._good = self._state()
        return self._result(image, float(loss.detach()), "centres" if update_centres else "w")

    def run(self) -> StepResult:
        """Step until done, cancelled or out of steps."""
        result = self.step()
        while not result.done and not self.cancelled:
            result = self.step()
        return result
