"""The jobs that work on the model, run by the worker thread (`app.jobs` says how jobs run and report).

`Refine` is a DragGAN refine (`draggan.DragSession`, one step per progress), `InvertPhoto` a photo inversion
(`spatialgan.inversion`, its tuned weights drawn with from then on), `ExportHistory` a video of the undo history
(one frame rendered per step, renders of the edit in between).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from draggan import DragConfig, DragSession
from draggan.objects import refine_session
from spatialgan.heatmaps.spec import HeatmapSpec
from spatialgan.inversion import InversionConfig, invert, save_tuned, tuned_path
from spatialgan.photo import load_photo, to_tensor
from spatialgan.visual import to_uint8

from .export import write_history
from .jobs import Job, JobProgress
from .messages import ExportRequest, LatentSpec, ObjectMove, Point
from .worker import edits_of

if TYPE_CHECKING:
    from .presenter import Presenter
    from .worker import Worker

Post = Callable[[JobProgress], None]


@dataclass(frozen=True)
class RefineInput:
    """What a refine starts from: the edit's latent and layout, the clicked points and the flexible area."""

    latent: LatentSpec
    spec: HeatmapSpec | None
    handles: tuple[Point, ...]  # pixels of the model's resolution
    targets: tuple[Point, ...]
    mask: np.ndarray | None = None  # (R, R) bool, True where the image may change
    homes: tuple[Point, ...] | None = None  # objects' homes: moved objects keep the look they have there
    objects: tuple[ObjectMove, ...] = ()  # objects moved by their features, in place during the refine
    object_move: ObjectMove | None = None  # refine this object move (handles spread over it) instead of points


# Drawing a whole picture costs more than this: a refine's steps show the tap block's picture (a draft, free) and
# the whole picture only when it ends. 64-128 px models draw in 25-130 ms on two CPU cores; a 256 px one takes
# about 200 ms and a 1024 px one 0.9-1.2 s (docs/measurements.md).
FULL_PICTURE_S = 0.15


class Refine(Job):
    """A DragGAN refine of the clicked points; each step's picture, then the final one, in full or as a draft."""

    kind = "refine"
    owns_image = True

    def __init__(self, generation: int, start: RefineInput, config: DragConfig) -> None:
        super().__init__(generation)
        self.start, self.settings = start, config
        self._session: DragSession | None = None

    def cancel(self) -> None:
        super().cancel()
        session = self._session
        if session is not None:
            session.cancel()

    def run(self, host: "Worker", post: Post) -> JobProgress:
        t0, start, total = time.perf_counter(), self.start, self.settings.max_steps
        with torch.no_grad():
            ws = host.ws(start.latent).clone()
        spec = host.spec(start.spec)
        mask = torch.from_numpy(np.asarray(start.mask, np.float32)) if start.mask is not None else None
        # the carry the editor draws with, clipped to what the worker's renderer uses
        cfg = replace(self.settings, carry_resolution=host.carry_resolution if start.homes is not None else None)
        edits = edits_of(start.objects)
        with torch.enable_grad():
            if start.object_move is not None:  # an object move's own coarse step: its handles are spread over it
                session = refine_session(host.G, ws, spec, edits_of((start.object_move,))[0],
                                         replace(cfg, mode="draggan" if cfg.mode == "hybrid" else cfg.mode),
                                         edits, start.homes)
            else:
                session = DragSession(host.G, ws, spec, list(start.handles), list(start.targets), mask, cfg,
                                      homes=start.homes, edits=edits)
        self._session = session
        if self.cancelled:
            session.cancel()
        # Where drawing the whole picture is slow (the worker's last picture, else the first step's), steps show
        # the draft the step drew anyway
        drafts = host.full_render_s is not None and host.full_render_s > FULL_PICTURE_S
        while True:
            t_step = time.perf_counter()
            with torch.enable_grad():
                r = session.step()
            if r.done or session.cancelled or r.error:
                break
            if drafts and r.draft is not None:
                image = to_uint8(r.draft)
            else:
                t_image = time.perf_counter()
                image = to_uint8(r.image)
                drafts = time.perf_counter() - t_image > FULL_PICTURE_S
            post(JobProgress(self.generation, r.step, total, image=image, points=list(r.points),
                             distances=list(r.distances), ms=(time.perf_counter() - t_step) * 1000))
        final_spec = session.spec()
        return JobProgress(self.generation, r.step, total, image=to_uint8(session.render()), points=list(r.points),
                           distances=list(r.distances), done=True, cancelled=session.cancelled, error=r.error,
                           ms=(time.perf_counter() - t0) * 1000,
                           result={"ws": session.ws().cpu().numpy().astype(np.float32),
                                   "spec": final_spec})

    def describe(self, p: JobProgress) -> str:
        return f"step {p.step}/{p.total}{_distance(p)}"

    def finish(self, p: JobProgress, presenter: "Presenter") -> str:
        presenter.c.apply_refine(p.result["ws"], p.result["spec"], p.points)
        return f"refine {'stopped' if p.cancelled else 'finished'} after {p.step} steps{_distance(p)}"


def _distance(p: JobProgress) -> str:
    """How far the farthest handle still is from its target, for the status line."""
    return f", distance {max(p.distances):.1f} px" if p.distances else ""


class InvertPhoto(Job):
    """Invert a photo into the model: latent, layout and tuned weights, which the worker draws with from then on."""

    kind = "photo"
    owns_image = True

    def __init__(self, generation: int, photo: str, fit: str = "crop", steps: int = 100) -> None:
        super().__init__(generation)
        self.photo, self.fit, self.steps = photo, fit, steps

    def run(self, host: "Worker", post: Post) -> JobProgress:
        cfg = InversionConfig(w_steps=self.steps, wplus_steps=self.steps, pti_steps=self.steps)
        total = 3 * self.steps
        eta = StageClock(self.steps)

        def progress(stage: str, step: int, loss: float) -> None:
            left = eta.tick(stage)
            if eta.done % 5 == 0:
                post(JobProgress(self.generation, eta.done, total, stage, loss=loss, eta_s=left))

        target = to_tensor(load_photo(self.photo, host.info.resolution, self.fit))  # type: ignore[arg-type]
        with torch.enable_grad():
            r = invert(host.base, target.to(host.device), cfg, callback=progress, cancelled=lambda: self.cancelled)
        path = tuned_path(self.photo)
        save_tuned(path, r.model, host.info.source, self.photo)
        host.replace_model(r.model)
        return JobProgress(self.generation, eta.done, total, "done", image=to_uint8(r.image), done=True,
                           cancelled=self.cancelled, eta_s=0.0,
                           result={"ws": r.ws.cpu().numpy().astype(np.float32),
                                   "spec": r.spec,
                                   "homes": [tuple(p) for p in r.spec.object_places()] if r.spec is not None else None,
                                   "model_path": str(path), "psnr": r.psnr["final"]})

    def describe(self, p: JobProgress) -> str:
        left = f", {p.eta_s:.0f} s left" if p.eta_s == p.eta_s else ""
        return f"photo: {p.stage} {p.step}/{p.total}, loss {p.loss:.4f}{left}"

    def finish(self, p: JobProgress, presenter: "Presenter") -> str:
        res = p.result
        presenter.c.apply_inversion(res["ws"], res["spec"], res["homes"], res["model_path"])
        return (f"photo {'inverted (stopped early)' if p.cancelled else 'inverted'}: {res['psnr']:.1f} dB; tuned "
                f"weights in {res['model_path']}")


# The inversion's stages in order, and what a step of each costs relative to a W step before it has been timed:
# a PTI step (the photo and one locality latent, a backward pass through the weights) takes about 2.5 W steps on
# pets64, 3.0 on an imported 256 px StyleGAN2 and 3.6 at 1024 px (bench/inversion.py's step times, 2 CPU cores).
# Once a stage runs, its own measured times replace the prior.
STAGES = ("w", "w+", "pti")
PRIOR_COST = {"w": 1.0, "w+": 1.0, "pti": 3.0}


class StageClock:
    """Time left from measured step times per stage: the stages begun at their own mean step time, the ones to
    come at the current stage's time scaled by their prior cost. A new stage can still cost more than foreseen;
    the estimate then rises by at most 20% per update, so it reads as a time that falls."""

    def __init__(self, steps_per_stage: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self.steps, self.clock = steps_per_stage, clock
        self.count = dict.fromkeys(STAGES, 0)
        self.spent = dict.fromkeys(STAGES, 0.0)
        self.last = clock()
        self.done = 0
        self.previous: float | None = None

    def tick(self, stage: str) -> float:
        """One step of `stage` done; the time left."""
        now = self.clock()
        self.count[stage] = self.count.get(stage, 0) + 1
        self.spent[stage] = self.spent.get(stage, 0.0) + now - self.last
        self.last, self.done = now, self.done + 1
        unit = self.spent[stage] / self.count[stage] / PRIOR_COST.get(stage, 1.0)
        order = STAGES.index(stage) if stage in STAGES else 0
        left = 0.0
        for s in STAGES[order:]:
            per = self.spent[s] / self.count[s] if self.count[s] else unit * PRIOR_COST[s]
            left += max(0, self.steps - self.count[s]) * per
        if self.previous is not None:
            left = min(left, self.previous * 1.2)
        self.previous = left
        return left


class ExportHistory(Job):
    """Render every state of the edit history and write them to a video; one frame per step, so renders of the
    edit go on in between."""

    kind = "history export"

    def __init__(self, req: ExportRequest) -> None:
        super().__init__(req.generation)
        self.frames, self.path, self.scale, self.ms_per_frame = req.frames, req.path, req.scale, req.ms_per_frame

    def run(self, host: "Worker", post: Post) -> JobProgress:
        images: list[np.ndarray] = []
        for req in self.frames:
            if self.cancelled:
                return JobProgress(self.generation, len(images), len(self.frames), done=True, cancelled=True)
            frame = host.render(req)
            if frame.error:
                return self.failed(f"history export failed: {frame.error}")
            assert frame.image is not None
            images.append(frame.image)
            post(JobProgress(self.generation, len(images), len(self.frames), "frames"))
        path = write_history(self.path, images, self.scale, self.ms_per_frame)
        return JobProgress(self.generation, len(images), len(self.frames), done=True, result={"path": str(path)})

    def describe(self, p: JobProgress) -> str:
        return f"exporting the history: {p.step}/{p.total} frames"

    def finish(self, p: JobProgress, presenter: "Presenter") -> str:
        if p.cancelled:
            return "history export stopped"
        return f"history ({p.total} frames) saved to {p.result['path']}"
