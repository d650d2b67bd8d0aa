"""The editor's presenter: everything between the controller's edits and the pictures on screen, with no GUI
imports, so it is tested without a display.

Each frame the view calls `tick()`: it submits a render when the edit changed since the last request, polls the
worker, drops stale results and applies the rest (a finished refine becomes an undoable edit, an export's progress
a message), and returns an `Update` saying what the view has to draw. Jobs (refine, history export, image export)
start and stop here too.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PIL import Image

from spatialgan.errors import SpatialGANError
from spatialgan.files import check_output, write_atomic
from spatialgan.video import check_video_path, draw_points, upscale, video_scale, write_video

from .controller import Controller
from .messages import (ExportProgress, InvertProgress, InvertRequest, LevelHint, ModelInfo, RefineProgress,
                       RenderResult)

if TYPE_CHECKING:  # the worker owns torch; the presenter only talks to it
    from .worker import Worker

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
ORIGINAL = -1  # the generation of the render of the scene before all edits (the compare key)
MAX_VIDEO_SIDE = 512  # refine frames of larger models are kept at half size or less (memory: one per step)
# While a gesture goes on, a model whose full picture takes longer than this is shown as a draft (its RGB at a
# coarser block), and the full picture follows when the gesture ends or pauses.
DRAFT_ABOVE_MS = 60.0
PAUSE_S = 0.3


@dataclass
class Update:
    """What changed in one `tick()`: the view draws only this."""

    image: np.ndarray | None = None  # a new picture (R, R, 3) uint8
    heatmaps: list[np.ndarray] = field(default_factory=list)  # new panel heatmaps, one per panel
    refine: RefineProgress | None = None  # the newest progress of the running refine
    refine_ended: bool = False  # the refine or inversion finished, failed or was stopped
    invert: InvertProgress | None = None  # the newest progress of a running photo inversion
    inert: tuple[bool, ...] | None = None  # a new level hint: which panels barely change the picture
    attention: np.ndarray | None = None  # a new GradCAM map for the picture on screen
    attention_failed: bool = False  # GradCAM could not be computed: the overlay was switched off


class Presenter:
    def __init__(self, controller: Controller, worker: "Worker") -> None:
        self.c, self.worker = controller, worker
        self.info: ModelInfo = worker.info
        self.image: np.ndarray | None = None  # the picture on screen
        self.submitted = -1  # generation of the last render request sent
        self.shown = -1  # generation of the picture on screen
        self.ms = 0.0  # render time of the picture on screen
        self.refine_gen: int | None = None  # generation of the running refine
        self.refine_last: RefineProgress | None = None
        self.refine_steps_seen = 0
        self.tracked: list[tuple[float, float]] = []  # handle positions while a refine runs
        self.export_gen: int | None = None  # generation of the running history export
        self.inert: tuple[bool, ...] = ()  # per panel, from the worker's LevelHint
        self.message = ""
        self.full_ms = 0.0  # render time of the last full picture: decides whether gestures get drafts
        self.gesture_active = False  # a drag or slider gesture is under way (the view says so)
        self.submitted_draft = False  # the last request was a draft
        self.shown_draft = False  # the picture on screen is a draft
        self.last_change = time.monotonic()
        self.draft_resolution = self.info.capabilities.preview_resolution
        self._opening: tuple[threading.Thread, dict[str, Any]] | None = None  # a model loading in the background
        # The compare key: the scene before all edits, rendered once per scene when first asked for.
        self.want_original = False
        self.original_image: np.ndarray | None = None
        self._original_of: Any = None  # the controller's `original` edit the image shows
        self._original_pending = False
        # The last refine as a video: the picture and tracked handles of every step, and its targets.
        self.refine_frames: list[tuple[np.ndarray, list[tuple[float, float]]]] = []
        self.refine_targets: list[tuple[float, float]] = []
        self._video: threading.Thread | None = None
        # Where the discriminator looks (GradCAM), computed with each full picture while the overlay is on.
        self.attention = False
        self.attention_map: np.ndarray | None = None
        self.attention_of = -1  # the generation the map belongs to

    @property
    def refining(self) -> bool:
        return self.refine_gen is not None

    @property
    def busy(self) -> bool:
        """Whether the picture on screen may still change without a new edit."""
        return self.worker.busy or self.refining or self.shown != self.c.state.generation or self.shown_draft

    # ---- jobs -----------------------------------------------------------------------------------------
    def start_refine(self, mode: str, lr: float, max_steps: int, optimise: str = "w+") -> bool:
        """Send a DragGAN refine of the clicked points; False if one is running already."""
        if self.refining:
            return False
        req = self.c.refine_request(mode, lr, max_steps, optimise)
        self.worker.submit(req)
        self.refine_gen, self.refine_last, self.refine_steps_seen = req.generation, None, 0
        self.refine_frames = []  # its first progress shows the start: each step's picture is where it began
        self.refine_targets = list(req.targets)
        self.submitted = req.generation  # the refine's images stand for this generation
        self.c.state.last_error = ""
        return True

    def stop_refine(self) -> None:
        """Stop the running refine or photo inversion (an inversion keeps what it reached)."""
        self.worker.cancel_refine()

    def start_invert(self, photo: str, fit: str = "crop", steps: int = 100) -> bool:
        """Invert a photo into the model (latent, layout, tuned weights); False if a job is running already."""
        if self.refining:
            return False
        if not photo:
            raise SpatialGANError("type the path of a photo first")
        req = InvertRequest(self.c.state.generation + 1, photo, fit, steps)
        self.c.state.generation += 1
        self.worker.submit(req)
        self.refine_gen, self.refine_last, self.submitted = req.generation, None, req.generation
        self.message = f"inverting {photo} ..."
        self.c.state.last_error = ""
        return True

    def show_attention(self, on: bool) -> None:
        """Switch the GradCAM overlay; switching it on draws the picture again with its map."""
        self.attention, self.attention_map = on, None
        if on:
            self.submitted = -1
            self.message = "computing where the discriminator looks (GradCAM; the first time reads D from the file)"

    @property
    def attention_shown(self) -> np.ndarray | None:
        """The GradCAM map to draw over the picture on screen, if it belongs to that picture."""
        if not self.attention or self.refining or self.shown_draft or self.attention_of != self.shown:
            return None
        return self.attention_map

    def clear_points(self) -> bool:
        self.tracked = []
        return self.c.clear_points()

    def export_history(self, path: str) -> None:
        req = self.c.export_history_request(path)
        self.worker.submit(req)
        self.export_gen = req.generation
        self.message = f"exporting the history: 0/{len(req.frames)} frames"

    def export_image(self, path: str | Path) -> Path:
        if self.image is None:
            raise SpatialGANError("nothing rendered yet")
        image = self.image
        fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}
        target = check_output(path, IMAGE_SUFFIXES, "image")
        write_atomic(target, lambda t: Image.fromarray(image).save(t, format=fmt[target.suffix.lower()]),
                     IMAGE_SUFFIXES, "image")
        self.message = f"image saved to {target.resolve()}"
        return target

    def export_refine_video(self, path: str | Path, points: bool = True) -> None:
        """Write the last refine, one frame per step (handle and target points drawn with `points`), in the
        background; the status line says when it is written."""
        if not self.refine_frames:
            raise SpatialGANError("run a DragGAN refine first: its steps are what the video shows")
        if self._video is not None and self._video.is_alive():
            raise SpatialGANError("a video is still being written")
        target = check_video_path(path)
        res = self.info.resolution
        scale = video_scale(res)
        targets = list(self.refine_targets)
        frames = list(self.refine_frames)

        def frame(image: np.ndarray, handles: list[tuple[float, float]]) -> np.ndarray:
            big = upscale(image, scale)
            return draw_points(big, handles, targets[: len(handles)], scale) if points else big

        def write() -> None:
            try:
                written = write_video(target, [frame(im, h) for im, h in frames])
                self.message = f"refine video ({len(frames)} frames) saved to {written.resolve()}"
            except Exception as exc:  # noqa: BLE001 - shown in the status line, the editor goes on
                self.c.state.last_error = f"refine video: {exc}"

        self.message = f"writing the refine video ({len(frames)} frames) ..."
        self._video = threading.Thread(target=write, name="spatialgan-video", daemon=True)
        self._video.start()

    def gesture(self, active: bool) -> None:
        """The view reports a drag or slider gesture starting or ending; at its end, a draft gets its full picture."""
        if self.gesture_active and not active and self.submitted_draft:
            self.submitted = -1
        self.gesture_active = active

    def _wants_draft(self) -> bool:
        return (self.draft_resolution is not None and self.gesture_active and self.full_ms > DRAFT_ABOVE_MS
                and time.monotonic() - self.last_change < PAUSE_S)

    def open_model(self, loader: Callable[[str, Callable[[str], None]], Any], path: str) -> bool:
        """Load another model in the background (a network pickle is imported the first time, which takes a
        while): the current one keeps running, and the status line shows each stage the loader reports. False if
        a load is already under way."""
        if self._opening is not None:
            return False
        box: dict[str, Any] = {}

        def progress(stage: str) -> None:
            self.message = f"opening {path}: {stage} ..."  # one attribute store: safe from the loading thread

        def load() -> None:
            try:
                box["model"] = loader(path, progress)
            except Exception as exc:  # noqa: BLE001 - shown in the status line; the current model stays
                box["error"] = str(exc) if isinstance(exc, SpatialGANError) else f"{type(exc).__name__}: {exc}"

        self._opening = (threading.Thread(target=load, name="spatialgan-open-model", daemon=True), box)
        self.message = f"opening {path} (a network pickle is imported the first time) ..."
        self._opening[0].start()  # after the message: the thread's first stage must not be overwritten
        return True

    @property
    def loading_model(self) -> bool:
        """Whether a model is being opened in the background."""
        return self._opening is not None

    def opened_model(self) -> Any:
        """What a finished background load returned (the caller builds an editor on it), else None; a failed
        load becomes the last error."""
        if self._opening is None or self._opening[0].is_alive():
            return None
        box, self._opening = self._opening[1], None
        if "error" in box:
            self.c.state.last_error, self.message = box["error"], ""
            return None
        return box["model"]

    def rerender(self) -> None:
        """Render the current edit again (the screenshot does, to show a warm render's time)."""
        self.submitted = -1

    # ---- each frame -----------------------------------------------------------------------------------
    def tick(self) -> Update:
        state = self.c.state
        if state.generation != self.submitted:
            self.last_change = time.monotonic()
        paused = (self.submitted_draft and state.generation == self.submitted
                  and time.monotonic() - self.last_change >= PAUSE_S)
        if not self.refining and (state.generation != self.submitted or paused):
            draft = self.draft_resolution if self._wants_draft() else None
            self.worker.submit(replace(self.c.render_request(), draft=draft, attention=self.attention and draft is None))
            self.submitted, self.submitted_draft = state.generation, draft is not None
            self._original_pending = False  # a newer render replaces a pending one: ask again later
        self._ask_original()
        update = Update()
        for r in self.worker.poll():
            if isinstance(r, RenderResult) and r.generation == ORIGINAL:
                self._original_pending = False
                self.original_image = r.image
            elif isinstance(r, RenderResult):
                self._render_result(r, update)
            elif isinstance(r, RefineProgress) and r.generation == self.refine_gen:
                self._refine_progress(r, update)
            elif isinstance(r, InvertProgress) and r.generation == self.refine_gen:
                self._invert_progress(r, update)
            elif isinstance(r, LevelHint):
                self._level_hint(r, update)
            elif isinstance(r, ExportProgress) and r.generation == self.export_gen:
                self._export_progress(r)
        return update

    def _ask_original(self) -> None:
        """Render the scene before all edits when the compare key wants it, once the worker has nothing newer."""
        if self._original_of is not self.c.original:
            self.original_image, self._original_of, self._original_pending = None, None, False
        if (self.want_original and self.original_image is None and not self._original_pending and not self.refining
                and self.shown == self.submitted == self.c.state.generation):
            self.worker.submit(replace(self.c.original_request(), generation=ORIGINAL))
            self._original_of, self._original_pending = self.c.original, True

    def _render_result(self, r: RenderResult, update: Update) -> None:
        if r.generation < self.shown or self.refining:
            return  # stale: a newer picture is already on screen, or a refine owns the image
        if r.generation == self.shown and self.shown_draft is False and r.draft:
            return  # a late draft never replaces the full picture of the same edit
        self.shown, self.ms, self.shown_draft = r.generation, r.ms, r.draft
        if not r.draft:
            self.full_ms = r.ms
        if r.error:
            self.c.state.last_error = r.error
            return
        if r.generation == self.c.state.generation:
            self.c.state.last_error = ""
        self.image = update.image = r.image
        update.heatmaps = list(r.heatmaps)
        if r.attention is not None:
            self.attention_map, self.attention_of, update.attention = r.attention, r.generation, r.attention
            self.message = ""
        elif r.attention_error and self.attention:
            self.c.state.last_error = f"GradCAM: {r.attention_error}"
            self.attention, self.message, update.attention_failed = False, "", True

    def _refine_progress(self, r: RefineProgress, update: Update) -> None:
        self.refine_last, self.tracked, update.refine = r, list(r.points), r
        self.refine_steps_seen += 0 if r.done else 1
        if r.image is not None:
            self.image = update.image = r.image
            self.ms = r.ms
            self.refine_frames.append((_video_frame(r.image), list(r.points)))
        if not r.done:
            return
        self.refine_gen, update.refine_ended = None, True
        if r.error:
            self.c.state.last_error = r.error
        if r.ws is None:
            return  # failed before it started: nothing to keep
        self.c.apply_refine(r.ws, r.spec, r.points)
        dist = f", distance {max(r.distances):.1f} px" if r.distances else ""
        self.message = f"refine {'stopped' if r.cancelled else 'finished'} after {r.step} steps{dist}"
        self.tracked = []

    def _invert_progress(self, r: InvertProgress, update: Update) -> None:
        update.invert = r
        if not r.done:
            self.message = (f"inverting the photo: {r.stage} step {r.step}/{r.total}, loss {r.loss:.4f}, "
                            f"about {r.eta_s:.0f} s left (Stop keeps what it has)")
            return
        self.refine_gen, update.refine_ended = None, True
        if r.error:
            self.c.state.last_error, self.message = r.error, ""
            return
        assert r.ws is not None
        self.c.apply_inversion(r.ws, r.spec, r.homes, r.model_path)
        self.image = update.image = r.image
        self.message = (f"photo {'inverted (stopped early)' if r.cancelled else 'inverted'}: {r.psnr:.1f} dB; tuned "
                        f"weights in {r.model_path}")

    def _level_hint(self, r: LevelHint, update: Update) -> None:
        if r.error:
            self.c.state.last_error = f"measuring the heatmap levels failed: {r.error}"
            return
        self.inert = update.inert = r.inert[: len(self.info.capabilities.panels)]

    def _export_progress(self, r: ExportProgress) -> None:
        if r.error:
            self.c.state.last_error, self.export_gen, self.message = r.error, None, ""
        elif r.done:
            self.message, self.export_gen = f"history ({r.total} frames) saved to {r.path}", None
        else:
            self.message = f"exporting the history: {r.rendered}/{r.total} frames"


def _video_frame(image: np.ndarray) -> np.ndarray:
    """A refine step's picture as the video keeps it: whole, or subsampled by 2 until at most MAX_VIDEO_SIDE."""
    while image.shape[0] > MAX_VIDEO_SIDE:
        image = image[::2, ::2]
    return image
