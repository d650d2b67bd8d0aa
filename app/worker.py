"""The one module of the editor that runs the model: a thread that owns it, so the GUI thread never waits on it.

It has two slots: the newest render (a request replaces the pending one, so a fast drag never queues renders) and
one long job (`app.jobs.Job`: a refine, a photo inversion, an export), which posts its progress step by step and
stops when cancelled; each time a job posts a step, the pending render is drawn, so editing stays live. Failures
come back as `error` strings, never as exceptions.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
import traceback
from typing import Union

import numpy as np
import torch

from draggan.objects import picture_selection
from spatialgan import Generator, HeatmapSpec
from spatialgan.heatmaps import HeatmapBatch
from spatialgan.carry import homes_tensor
from spatialgan.device import describe, keep_freed_memory
from spatialgan.errors import SpatialGANError
from spatialgan.fused import fuse
from spatialgan.gradcam import attention_map
from spatialgan.graphed import GraphedRenderer
from spatialgan.heatmaps.render import combine
from spatialgan.loading import load_discriminator
from spatialgan.metrics.levels import inert_levels
from spatialgan.objects import ObjectClusters, ObjectEdit, cached_clusters, edit_block
from spatialgan.render import render
from spatialgan.visual import to_uint8

from .jobs import Job, JobProgress
from .messages import LatentSpec, LevelHint, ModelInfo, ObjectMap, ObjectMove, RenderRequest, RenderResult

Result = Union[RenderResult, JobProgress, LevelHint]


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, (SpatialGANError, ValueError, IndexError)):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc} (at {traceback.extract_tb(exc.__traceback__)[-1].name})"


def edits_of(objects: tuple[ObjectMove, ...] | list[ObjectMove]) -> list[ObjectEdit]:
    """The render path's object edits for the editor's moved objects."""
    return [ObjectEdit.from_selection(o.mask, o.shift) for o in objects]


def _moves_objects(G: Generator) -> bool:
    try:
        edit_block(G)
    except SpatialGANError:
        return False
    return True


class Worker:
    def __init__(self, G: Generator, device: torch.device, source: str, discriminator: str = "") -> None:
        self.G, self.device = fuse(G), device  # the editor only draws and refines: the fused inference copy
        if device.type == "cpu":
            keep_freed_memory()  # a large model's pictures free blocks that glibc would unmap and refault each time
        self._renderer = GraphedRenderer(self.G)  # CUDA graph replays on a GPU, the same code eagerly elsewhere
        self.info = ModelInfo(source=source, device=describe(device), capabilities=G.capabilities,
                              discriminator=discriminator, objects=_moves_objects(G))
        self._D: torch.nn.Module | None = None  # read from `discriminator` the first time GradCAM is asked for
        self._clusters: ObjectClusters | None = None  # the object tool's, fitted (or read) when first used
        self.base = G  # the trainable weights the fused copy was made from (a photo's inversion tunes them)
        self._cond = threading.Condition()
        self._render: RenderRequest | None = None  # newest pending render; older ones are dropped
        self._job: Job | None = None  # the long job to run, or running
        self._results: queue.Queue[Result] = queue.Queue()
        self._stop = False
        self._latent_key: tuple | None = None
        self._latent: torch.Tensor | None = None
        # The level hint waits for the first idle moment, so it never delays the first picture.
        self._hint_pending = self.info.capabilities.has_levels
        self.renders = 0  # renders actually done (requests dropped as stale are not counted)
        self.full_render_s: float | None = None  # how long the last whole picture took to draw
        self.busy = False
        self._thread = threading.Thread(target=self._loop, name="spatialgan-worker", daemon=True)
        self._thread.start()

    # ---- GUI-thread API -------------------------------------------------------------------------------
    def default_spec(self, seed: int) -> HeatmapSpec | None:
        """The heatmap the model was trained on, drawn for `seed` (None for models without heatmaps)."""
        return self.G.default_layout(seed)

    def check_layout(self, spec: HeatmapSpec) -> None:
        """Raise `HeatmapSpecError` when a heatmap does not fit the model (reads only its config: thread-safe)."""
        self.G.check_layout(spec)

    def submit(self, request: RenderRequest) -> None:
        """Draw this next (a pending render not yet started is replaced)."""
        with self._cond:
            self._render = request
            self._cond.notify()

    def start(self, job: Job) -> None:
        """Run a long job; one at a time (the presenter starts the next once this one has ended)."""
        with self._cond:
            self._job = job
            self._cond.notify()

    def poll(self) -> list[Result]:
        out = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """For tests and benchmarks: block until nothing is pending or running."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._cond:
                if not self.busy and not self._pending():
                    return True
            time.sleep(0.002)
        return False

    def close(self) -> None:
        with self._cond:
            if self._job is not None:
                self._job.cancel()
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=10)

    # ---- what jobs use (worker thread) ------------------------------------------------------------------
    @property
    def carry_resolution(self) -> int:
        return self._renderer.carry_resolution

    def replace_model(self, model: Generator) -> None:
        """Draw with other weights from now on (a photo's tuned weights)."""
        self.base, self.G = model, fuse(model)
        self._renderer = GraphedRenderer(self.G)
        self._latent_key = None
        self._clusters = None

    # ---- worker thread --------------------------------------------------------------------------------
    def _pending(self) -> bool:
        """Whether there is work to do (call holding `_cond`): a request, or the level hint once a picture is out."""
        return self._render is not None or self._job is not None or (self._hint_pending and self.renders > 0)

    def _loop(self) -> None:
        torch.set_grad_enabled(False)
        while True:
            with self._cond:
                while not self._stop and not self._pending():
                    self._cond.wait()
                if self._stop:
                    return
                render, job, hint = self._render, self._job, False
                if render is not None:
                    self._render, job = None, None  # the newest picture first; a job goes on after it
                elif job is None:
                    hint, self._hint_pending = True, False
                self.busy = True
            try:
                if render is not None:
                    self._results.put(self.render(render))
                elif job is not None:
                    self._run_job(job)
                elif hint:
                    self._results.put(self._level_hint())
            finally:
                with self._cond:
                    self.busy = False

    def _run_job(self, job: Job) -> None:
        def post(p: JobProgress) -> None:
            self._results.put(p)
            with self._cond:  # the edit goes on while the job runs: draw its newest picture between two steps
                render, self._render = self._render, None
            if render is not None:
                self._results.put(self.render(render))

        try:
            final = job.run(self, post)
        except Exception as exc:  # noqa: BLE001 - a failed job is reported; the worker keeps running
            final = job.failed(_error_text(exc))
        with self._cond:
            if self._job is job:
                self._job = None
        self._results.put(final)

    def ws(self, latent: LatentSpec) -> torch.Tensor:
        """w+ for a latent spec, cached: a drag changes only the heatmap, so mapping runs once per edit."""
        override = None if latent.ws_override is None else hashlib.sha1(latent.ws_override.tobytes()).hexdigest()
        key = (latent.seed, latent.psi, latent.code_seeds, latent.label, override)
        if key != self._latent_key or self._latent is None:
            if latent.ws_override is not None:
                ws = torch.from_numpy(np.asarray(latent.ws_override, np.float32)).to(self.device)
            else:
                ws = self.G.seed_ws(latent.seed, latent.psi, latent.label).to(self.device)
            for index, seed in enumerate(latent.code_seeds):
                if seed is not None:
                    ws = self.G.restyle(ws, index, seed, psi=latent.psi)
            self._latent_key, self._latent = key, ws.contiguous()
        return self._latent

    def spec(self, spec: HeatmapSpec | None) -> HeatmapSpec | None:
        """A request's layout, checked against the model once, where it is drawn."""
        if spec is not None:
            self.G.check_layout(spec)
        return spec

    def _panels(self, heat: dict[int, torch.Tensor] | None) -> list[np.ndarray]:
        """The heatmap of every panel the model describes (`Capabilities.panels`), at its resolution."""
        if heat is None:
            return []
        return [combine(heat[p.resolution])[0, 0].float().cpu().numpy() for p in self.info.capabilities.panels]

    def _level_hint(self) -> LevelHint:
        """Which levels are inert: a few seeded drags per level (`spatialgan.metrics.levels`), about four
        renders per level."""
        try:
            return LevelHint(inert_levels(self.G))
        except Exception as exc:  # noqa: BLE001 - a hint is optional; the GUI shows the error and goes on
            return LevelHint((), _error_text(exc))

    def render(self, req: RenderRequest) -> RenderResult:
        """Draw a request (in the worker thread): the picture, the panels' heatmaps and, if asked, GradCAM."""
        t0 = time.perf_counter()
        try:
            with torch.inference_mode():
                ws = self.ws(req.latent)
                spec = self.spec(req.spec)
                layout = spec.to_batch(self.device) if spec is not None else None
                homes = homes_tensor(spec, req.homes, self.device)
                if req.objects:  # feature edits: the eager path (a captured graph knows no edits)
                    out = render(self.G, ws, layout, homes=homes, carry_at=self.carry_resolution, draft=req.draft,
                                 edits=edits_of(req.objects))
                    image_t, heat = out.image, out.heatmaps
                else:
                    image_t, heat = self._renderer(ws, layout, homes, req.draft)
                image = to_uint8(image_t)
                panels = self._panels(heat)
            self.renders += 1
            if req.draft is None:
                self.full_render_s = time.perf_counter() - t0
            result = RenderResult(req.generation, image, panels, (time.perf_counter() - t0) * 1000,
                                  draft=req.draft is not None)
            if req.object_map and req.draft is None:
                try:
                    result.object_map = self._object_map(ws, layout, homes, req.objects)
                except Exception as exc:  # noqa: BLE001 - no selection, but the picture stands
                    result.object_error = _error_text(exc)
            if req.attention and req.draft is None:
                try:
                    result.attention = self._attention(image_t, req.latent.label)
                except Exception as exc:  # noqa: BLE001 - no GradCAM, but the picture stands
                    result.attention_error = _error_text(exc)
            return result
        except Exception as exc:  # noqa: BLE001 - the GUI shows it; the worker keeps running
            return RenderResult(req.generation, None, [], (time.perf_counter() - t0) * 1000, _error_text(exc))

    def _object_map(self, ws: torch.Tensor, layout: HeatmapBatch | None, homes: torch.Tensor | None,
                    objects: tuple[ObjectMove, ...]) -> ObjectMap:
        """The picture's cluster map as shown (moved objects where they are now): the clusters of the model's
        features are fitted the first time (seconds; then cached per model, `spatialgan.objects`)."""
        if self._clusters is None:
            self._clusters = cached_clusters(self.base)[0]
        selection = picture_selection(self.G, self._clusters, ws, layout, edits_of(objects), homes)
        return ObjectMap(selection.labels, selection.background)

    def _attention(self, image: torch.Tensor, label: int | None) -> np.ndarray:
        """Where the discriminator looks at `image` (spatialgan.gradcam.attention_map), at the activations the
        model's heatmaps are aligned with (EqGAN-SA: 4, 8, 16 px), else D's blocks up to 16 px."""
        if self._D is None:
            if not self.info.discriminator:
                raise SpatialGANError("this model has no discriminator to show GradCAM from")
            self._D = load_discriminator(self.info.discriminator, self.device)
        D = self._D
        levels = sorted(set(self.G.attention_levels.values())) or [r for r in D.feature_resolutions if r <= 16]
        labels = None
        if D.c_dim:
            labels = torch.zeros(1, D.c_dim, device=self.device)
            labels[0, label or 0] = 1
        with torch.inference_mode(False):
            return attention_map(D, image.clone(), levels, labels)[0, 0].cpu().numpy()
