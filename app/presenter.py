"""The editor's presenter: everything between the controller's edits and the pictures on screen, with no GUI
imports, so it is tested without a display.

Each frame the view calls `tick()`: it submits a render when the edit changed since the last request, polls the
worker, drops stale results and applies the rest, and returns an `Update` saying what the view has to draw. Long
work is a `Job` (`app.jobs`): `start(job)` runs it (in the worker, or apart for jobs that must not hold the model
up), its progress goes to the one `Status` the view draws, and when it ends the job applies its own result. The
presenter never asks which kind a job is.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from spatialgan.errors import SpatialGANError
from spatialgan.files import check_output, write_atomic

from .controller import Controller
from .jobs import Job, JobProgress, run_apart
from .messages import LevelHint, ModelInfo, ObjectMap, RenderResult
from .status import Status

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
    job: JobProgress | None = None  # the newest progress of the running job
    job_ended: bool = False  # a job finished, failed or was stopped
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
        self.status = Status()
        self.job: Job | None = None  # the job running in the worker
        self.job_last: JobProgress | None = None  # its newest progress (kept after it ends)
        self.job_last_kind = ""  # the kind of job `job_last` came from
        self.job_steps_seen = 0
        self.side_job: Job | None = None  # a job running apart (opening a model, writing a video)
        self._side_results: queue.Queue[JobProgress] = queue.Queue()
        self.next_model: Any = None  # a model opened in the background: the view rebuilds the editor on it
        self.tracked: list[tuple[float, float]] = []  # handle positions while a refine runs
        self.inert: tuple[bool, ...] = ()  # per panel, from the worker's LevelHint
        self.full_ms = 0.0  # render time of the last full picture: decides whether gestures get drafts
        self.gesture_active = False  # a drag or slider gesture is under way (the view says so)
        self.submitted_draft = False  # the last request was a draft
        self.shown_draft = False  # the picture on screen is a draft
        self.last_change = time.monotonic()
        self.draft_resolution = self.info.capabilities.preview_resolution
        # The compare key: the scene before all edits, rendered once per scene when first asked for.
        self.want_original = False
        self.original_image: np.ndarray | None = None
        self._original_of: Any = None  # the controller's `original` edit the image shows
        self._original_pending = False
        # The last refine as a video: the picture and tracked handles of every step, and its targets.
        self.refine_frames: list[tuple[np.ndarray, list[tuple[float, float]]]] = []
        self.refine_targets: list[tuple[float, float]] = []
        # Where the discriminator looks (GradCAM), computed with each full picture while the overlay is on.
        self.attention = False
        self.attention_map: np.ndarray | None = None
        self.attention_of = -1  # the generation the map belongs to
        # The object tool's cluster map of the picture on screen, computed with each full picture while it is on.
        self.objects_on = False
        self.object_map: ObjectMap | None = None
        self.object_map_of = -1

    @property
    def refining(self) -> bool:
        """Whether a job owns the picture (a refine, a photo inversion): no renders are asked for meanwhile."""
        return self.job is not None and self.job.owns_image

    @property
    def busy(self) -> bool:
        """Whether the picture on screen may still change without a new edit."""
        return self.worker.busy or self.refining or self.shown != self.c.state.generation or self.shown_draft

    # ---- jobs -----------------------------------------------------------------------------------------
    def start(self, job: Job) -> bool:
        """Run a job (one in the worker and one apart at a time); False, with a message, if one is running."""
        running = self.side_job if job.apart else self.job
        if running is not None:
            self.status.say(f"{running.kind} is still running: wait for it or stop it first")
            return False
        self.status.begin(job.kind, job.generation)
        if job.apart:
            self.side_job = job
            run_apart(job, self._side_results.put)
            return True
        self.job, self.job_last, self.job_last_kind, self.job_steps_seen = job, None, job.kind, 0
        if job.owns_image:
            self.submitted = job.generation  # its pictures stand for this generation
            self.refine_frames = []  # a refine's first progress is where it began
        self.worker.start(job)
        return True

    def stop(self) -> None:
        """Stop the running job after its current step (a photo inversion keeps what it reached)."""
        if self.job is not None:
            self.job.cancel()

    def _job_progress(self, job: Job, r: JobProgress, update: Update) -> None:
        self.status.bar(job.describe(r), r.step / max(1, r.total), job.generation)
        if job is self.job:
            self.job_last, update.job = r, r
            self.job_steps_seen += 0 if r.done else 1
            if r.points:
                self.tracked = list(r.points)
            if r.image is not None and job.owns_image:
                self.image = update.image = r.image
                self.ms = r.ms
                self.refine_frames.append((_video_frame(r.image), list(r.points)))
        if not r.done:
            return
        if job is self.job:
            self.job, update.job_ended = None, True
        else:
            self.side_job = None
        if r.error:
            self.status.end(error=r.error)
            return
        try:
            message = job.finish(r, self)
        except SpatialGANError as exc:  # its result does not fit the edit any more (the model changed, say)
            self.status.end(error=str(exc))
            return
        finally:
            self.tracked = []
        self.status.end(message)

    def show_attention(self, on: bool) -> None:
        """Switch the GradCAM overlay; switching it on draws the picture again with its map."""
        self.attention, self.attention_map = on, None
        if on:
            self.submitted = -1
            self.status.say("computing where the discriminator looks (GradCAM; the first time reads D from the file)")

    def show_objects(self, on: bool) -> None:
        """Switch the object tool; switching it on draws the picture again with its cluster map."""
        self.objects_on = on
        if on and self.object_map_of != self.shown:
            self.submitted = -1
            self.status.say("finding the objects in the model's features (the first time per model takes seconds)")

    @property
    def objects_shown(self) -> ObjectMap | None:
        """The cluster map of the picture on screen, if there is one for it."""
        return self.object_map if self.objects_on and self.object_map_of == self.shown else None

    @property
    def attention_shown(self) -> np.ndarray | None:
        """The GradCAM map to draw over the picture on screen, if it belongs to that picture."""
        if not self.attention or self.refining or self.shown_draft or self.attention_of != self.shown:
            return None
        return self.attention_map

    def clear_points(self) -> bool:
        self.tracked = []
        return self.c.clear_points()

    def export_image(self, path: str | Path) -> Path:
        if self.image is None:
            raise SpatialGANError("nothing rendered yet")
        image = self.image
        fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}
        target = check_output(path, IMAGE_SUFFIXES, "image")
        write_atomic(target, lambda t: Image.fromarray(image).save(t, format=fmt[target.suffix.lower()]),
                     IMAGE_SUFFIXES, "image")
        self.status.say(f"image saved to {target.resolve()}")
        return target

    def refine_video_frames(self, points: bool = True) -> list[np.ndarray]:
        """The last refine, one frame per step (upscaled; handle and target points drawn with `points`)."""
        from spatialgan.video import draw_points, upscale, video_scale

        if not self.refine_frames:
            raise SpatialGANError("run a DragGAN refine first: its steps are what the video shows")
        # drafts (a large model's steps) and halved frames are brought to the largest frame's size
        side = max(image.shape[0] for image, _ in self.refine_frames)
        scale = video_scale(side)
        targets = list(self.refine_targets)

        def frame(image: np.ndarray, handles: list[tuple[float, float]]) -> np.ndarray:
            big = upscale(image, scale * side // image.shape[0])
            at = scale * side / self.info.resolution  # model pixels -> video pixels
            return draw_points(big, handles, targets[: len(handles)], at) if points else big  # type: ignore[arg-type]

        return [frame(im, h) for im, h in self.refine_frames]

    def gesture(self, active: bool) -> None:
        """The view reports a drag or slider gesture starting or ending; at its end, a draft gets its full picture."""
        if self.gesture_active and not active and self.submitted_draft:
            self.submitted = -1
        self.gesture_active = active

    def _wants_draft(self) -> bool:
        return (self.draft_resolution is not None and self.gesture_active and self.full_ms > DRAFT_ABOVE_MS
                and time.monotonic() - self.last_change < PAUSE_S)

    @property
    def loading_model(self) -> bool:
        """Whether something runs apart (a model being opened)."""
        return self.side_job is not None

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
            full = draft is None  # GradCAM and the cluster map of full pictures only
            self.worker.submit(replace(self.c.render_request(), draft=draft, attention=self.attention and full,
                                       object_map=self.objects_on and full))
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
            elif isinstance(r, JobProgress) and self.job is not None and r.generation == self.job.generation:
                self._job_progress(self.job, r, update)
            elif isinstance(r, LevelHint):
                self._level_hint(r, update)
        while not self._side_results.empty():
            side = self.side_job
            r = self._side_results.get_nowait()
            if side is not None and r.generation == side.generation:
                self._job_progress(side, r, update)
        self.status.edited(state.generation)
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
            return  # stale: a newer picture is already on screen, or a job owns the image
        if r.generation == self.shown and self.shown_draft is False and r.draft:
            return  # a late draft never replaces the full picture of the same edit
        self.shown, self.ms, self.shown_draft = r.generation, r.ms, r.draft
        if not r.draft:
            self.full_ms = r.ms
        if r.error:
            self.status.fail(r.error)
            return
        if r.generation == self.c.state.generation and not self.job:
            self.status.error = ""  # the edit draws again: an earlier failure to draw is over
        self.image = update.image = r.image
        update.heatmaps = list(r.heatmaps)
        if r.object_map is not None:
            if self.object_map_of < 0:
                self.status.say("")
            self.object_map, self.object_map_of = r.object_map, r.generation
        elif r.object_error and self.objects_on:
            self.status.fail(f"objects: {r.object_error}")
        if r.attention is not None:
            self.attention_map, self.attention_of, update.attention = r.attention, r.generation, r.attention
            self.status.say("")
        elif r.attention_error and self.attention:
            self.status.fail(f"GradCAM: {r.attention_error}")
            self.attention, update.attention_failed = False, True
            self.status.say("")

    def _level_hint(self, r: LevelHint, update: Update) -> None:
        if r.error:
            self.status.fail(f"measuring the heatmap levels failed: {r.error}")
            return
        self.inert = update.inert = r.inert[: len(self.info.capabilities.panels)]


def _video_frame(image: np.ndarray) -> np.ndarray:
    """A refine step's picture as the video keeps it: whole, or subsampled by 2 until at most MAX_VIDEO_SIDE."""
    while image.shape[0] > MAX_VIDEO_SIDE:
        image = image[::2, ::2]
    return image
