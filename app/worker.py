"""The one module of the editor that touches torch: a thread that owns the model, so the GUI
thread never waits on it.

The GUI thread calls `submit()` with plain request dataclasses and `poll()`s results each frame. Only the
newest pending render is kept, so a fast drag never queues renders; a refine runs step by step, posting
progress, and stops at `cancel_refine()`. A history export renders one frame per loop turn, after any
pending render, so editing stays live while it runs. Failures come back as `error` strings, never as exceptions.
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

from draggan import DragConfig, DragSession
from spatialgan import Generator, HeatmapSpec
from spatialgan.carry import homes_tensor
from spatialgan.device import describe
from spatialgan.fused import fuse
from spatialgan.inversion import InversionConfig, invert, save_tuned, tuned_path
from spatialgan.photo import load_photo, to_tensor
from spatialgan.errors import SpatialGANError
from spatialgan.gradcam import attention_map
from spatialgan.graphed import GraphedRenderer
from spatialgan.loading import load_discriminator
from spatialgan.heatmaps.render import combine
from spatialgan.metrics.levels import inert_levels
from spatialgan.visual import to_uint8

from .export import write_history
from .messages import (ExportProgress, ExportRequest, InvertProgress, InvertRequest, LatentSpec, LevelHint,
                       ModelInfo, RefineProgress, RefineRequest, RenderRequest, RenderResult)

Request = Union[RenderRequest, RefineRequest, ExportRequest, InvertRequest]
Result = Union[RenderResult, RefineProgress, ExportProgress, LevelHint, InvertProgress]


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, (SpatialGANError, ValueError, IndexError)):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc} (at {traceback.extract_tb(exc.__traceback__)[-1].name})"


class Worker:
    def __init__(self, G: Generator, device: torch.device, source: str, discriminator: str = "") -> None:
        self.G, self.device = fuse(G), device  # the editor only draws and refines: the fused inference copy
        self._renderer = GraphedRenderer(self.G)  # CUDA graph replays on a GPU, the same code eagerly elsewhere
        self.info = ModelInfo(source=source, device=describe(device), capabilities=G.capabilities,
                              discriminator=discriminator)
        self._D: torch.nn.Module | None = None  # read from `discriminator` the first time GradCAM is asked for
        self._cond = threading.Condition()
        self._render: RenderRequest | None = None  # newest pending render; older ones are dropped
        self._refine: RefineRequest | None = None
        self._invert: InvertRequest | None = None
        self._base = G  # the trainable weights the fused copy was made from (a photo's inversion tunes them)
        self._export: ExportRequest | None = None  # a running history export
        self._export_images: list[np.ndarray] = []
        self._session: DragSession | None = None
        self._results: queue.Queue[Result] = queue.Queue()
        self._stop = False
        self._cancel = False
        self._latent_key: tuple | None = None
        self._latent: torch.Tensor | None = None
        # The level hint waits for the first idle moment, so it never delays the first picture.
        self._hint_pending = self.info.capabilities.has_levels
        self.renders = 0  # renders actually done (requests dropped as stale are not counted)
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

    def submit(self, request: Request) -> None:
        with self._cond:
            if isinstance(request, RefineRequest):
                self._refine, self._cancel = request, False
            elif isinstance(request, InvertRequest):
                self._invert, self._cancel = request, False
            elif isinstance(request, ExportRequest):
                self._export, self._export_images = request, []  # a new export replaces a running one
            else:
                self._render = request
            self._cond.notify()

    def cancel_refine(self) -> None:
        """Stop a running or pending refine after its current step."""
        with self._cond:
            self._cancel = True
            self._refine = self._invert = None
            if self._session is not None:
                self._session.cancel()

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
        self.cancel_refine()
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=10)

    # ---- worker thread --------------------------------------------------------------------------------
    def _pending(self) -> bool:
        """Whether there is work to do (call holding `_cond`): a request, or the level hint once a picture is out."""
        return (self._render is not None or self._refine is not None or self._export is not None
                or self._invert is not None
                or (self._hint_pending and self.renders > 0))

    def _loop(self) -> None:
        torch.set_grad_enabled(False)
        while True:
            with self._cond:
                while not self._stop and not self._pending():
                    self._cond.wait()
                if self._stop:
                    return
                refine, render, export, hint, invert = self._refine, None, None, False, self._invert
                if invert is not None:
                    self._invert, refine = None, None
                elif refine is not None:
                    self._refine = None
                elif self._render is not None:
                    render, self._render = self._render, None
                elif self._export is not None:
                    # the list travels with its request: a newer export gets a fresh list, never this one's frames
                    export = (self._export, self._export_images)
                else:
                    hint, self._hint_pending = True, False
                self.busy = True
            try:
                if invert is not None:
                    self._run_invert(invert)
                elif refine is not None:
                    self._run_refine(refine)
                elif render is not None:
                    self._results.put(self._run_render(render))
                elif export is not None:
                    self._export_step(*export)
                elif hint:
                    self._results.put(self._level_hint())
            finally:
                with self._cond:
                    self.busy = False

    def _ws(self, latent: LatentSpec) -> torch.Tensor:
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

    def _spec(self, data: dict | None) -> HeatmapSpec | None:
        if data is None:
            return None
        spec = HeatmapSpec.from_dict(data)
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

    def _run_render(self, req: RenderRequest) -> RenderResult:
        t0 = time.perf_counter()
        try:
            with torch.inference_mode():
                ws = self._ws(req.latent)
                spec = self._spec(req.spec)
                image_t, heat = self._renderer(ws, spec.to_batch(self.device) if spec is not None else None,
                                               homes_tensor(spec, req.homes, self.device), req.draft)
                image = to_uint8(image_t)
                panels = self._panels(heat)
            self.renders += 1
            result = RenderResult(req.generation, image, panels, (time.perf_counter() - t0) * 1000,
                                  draft=req.draft is not None)
            if req.attention and req.draft is None:
                try:
                    result.attention = self._attention(image_t, req.latent.label)
                except Exception as exc:  # noqa: BLE001 - no GradCAM, but the picture stands
                    result.attention_error = _error_text(exc)
            return result
        except Exception as exc:  # noqa: BLE001 - the GUI shows it; the worker keeps running
            return RenderResult(req.generation, None, [], (time.perf_counter() - t0) * 1000, _error_text(exc))

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

    def _export_step(self, req: ExportRequest, images: list[np.ndarray]) -> None:
        """Render the next history frame of `req` into `images`; after the last one, write the GIF and report."""
        frame = self._run_render(req.frames[len(images)])
        error = frame.error
        if not error:
            assert frame.image is not None
            images.append(frame.image)
        done = bool(error) or len(images) == len(req.frames)
        path = ""
        if done and not error:
            try:
                path = str(write_history(req.path, images, req.scale, req.ms_per_frame))
            except Exception as exc:  # noqa: BLE001 - reported to the GUI like any other failure
                error = _error_text(exc)
        rendered = len(images)
        with self._cond:
            if self._export is not req:
                return  # replaced by a newer export meanwhile: this one's frames are discarded
            if done:
                self._export, self._export_images = None, []
        self._results.put(ExportProgress(req.generation, rendered, len(req.frames), done, path,
                                         f"history export failed: {error}" if error else ""))

    def _run_invert(self, req: InvertRequest) -> None:
        """Invert a photo, posting progress; the tuned weights are saved and drawn with from then on."""
        t0 = time.perf_counter()
        total = 3 * req.steps
        done = [0]

        def progress(stage: str, step: int, loss: float) -> None:
            done[0] += 1
            if done[0] % 5 == 0:
                eta = (time.perf_counter() - t0) / done[0] * (total - done[0])
                self._results.put(InvertProgress(req.generation, stage, done[0], total, loss, eta))

        try:
            target = to_tensor(load_photo(req.photo, self.info.resolution, req.fit))  # type: ignore[arg-type]
            cfg = InversionConfig(w_steps=req.steps, wplus_steps=req.steps, pti_steps=req.steps)
            with torch.enable_grad():
                r = invert(self._base, target.to(self.device), cfg, callback=progress, cancelled=lambda: self._cancel)
            path = tuned_path(req.photo)
            save_tuned(path, r.model, self.info.source, req.photo)
            self._base, self.G = r.model, fuse(r.model)
            self._renderer = GraphedRenderer(self.G)
            self._latent_key = None
            spec = r.spec.to_dict() if r.spec is not None else None
            homes = [tuple(p) for p in r.spec.object_places()] if r.spec is not None else None
            self._results.put(InvertProgress(
                req.generation, "done", done[0], total, done=True, cancelled=self._cancel, image=to_uint8(r.image),
                ws=r.ws.cpu().numpy().astype(np.float32), spec=spec, homes=homes, model_path=str(path),
                psnr=r.psnr["final"], eta_s=0.0))  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - a bad photo or a failure: the current model keeps running
            self._results.put(InvertProgress(req.generation, "failed", done[0], total, done=True,
                                             error=_error_text(exc)))

    def _run_refine(self, req: RefineRequest) -> None:
        t0 = time.perf_counter()

        def fail(msg: str) -> None:
            self._results.put(RefineProgress(req.generation, 0, req.max_steps, None, done=True, error=msg))

        try:
            with torch.no_grad():
                ws = self._ws(req.latent).clone()
            spec = self._spec(req.spec)
            mask = torch.from_numpy(np.asarray(req.mask, np.float32)) if req.mask is not None else None
            cfg = DragConfig(mode=req.mode, lr=req.lr, max_steps=req.max_steps, latent=req.optimise,  # type: ignore[arg-type]
                             carry_resolution=self._renderer.carry_resolution if req.homes is not None else None)
            with torch.enable_grad():
                session = DragSession(self.G, ws, spec, list(req.handles), list(req.targets), mask, cfg,
                                      homes=req.homes)
                with self._cond:
                    if self._cancel:
                        return fail("refine cancelled")
                    self._session = session
                try:
                    while True:
                        t_step = time.perf_counter()
                        r = session.step()
                        last = r.done or session.cancelled or bool(r.error)
                        if not last:
                            self._results.put(RefineProgress(
                                req.generation, r.step, req.max_steps, to_uint8(r.image), list(r.points),
                                list(r.distances), ms=(time.perf_counter() - t_step) * 1000))
                            continue
                        final_spec = session.spec()
                        image = to_uint8(session.render())  # the session's own render of its final state
                        self._results.put(RefineProgress(
                            req.generation, r.step, req.max_steps, image, list(r.points), list(r.distances),
                            done=True, cancelled=session.cancelled, ms=(time.perf_counter() - t0) * 1000,
                            error=r.error, ws=session.ws().cpu().numpy().astype(np.float32),
                            spec=final_spec.to_dict() if final_spec is not None else None))
                        return
                finally:
                    with self._cond:
                        self._session = None
        except Exception as exc:  # noqa: BLE001
            fail(_error_text(exc))
