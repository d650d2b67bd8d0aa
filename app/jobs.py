"""Long jobs as objects: a DragGAN refine, a photo inversion, a history export, opening a model, writing a video.

A job runs somewhere other than the GUI thread, posting a `JobProgress` per step and returning its last one
(`done`); the presenter starts it, shows its progress and, when it ends, lets the job apply its result
(`finish`). The presenter never asks which kind a job is: a new kind is a new `Job` subclass and the control that
starts it.

Jobs that work on the model (`app.model_jobs`) run in the worker thread, one at a time; the worker draws the
newest pending render each time a job posts a step, so editing stays live. Jobs that must not hold the model up
(opening another model, writing a video) say `apart = True` and get a thread of their own.

No torch here: the GUI side of a job is plain Python.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

from spatialgan.errors import SpatialGANError

if TYPE_CHECKING:
    from .presenter import Presenter


@dataclass
class JobProgress:
    """One step of a job, or its end (`done`): what the status line and the picture show, and the result."""

    generation: int
    step: int = 0
    total: int = 0
    stage: str = ""  # words for the part of the work under way ("w", "pti", "frames", ...)
    image: np.ndarray | None = None  # a picture to show now (the job owns the image)
    points: list[tuple[float, float]] = field(default_factory=list)  # tracked handles, pixels
    distances: list[float] = field(default_factory=list)
    eta_s: float = float("nan")  # time left, from measured step times
    loss: float = float("nan")
    ms: float = 0.0
    done: bool = False
    cancelled: bool = False
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)  # what `finish` applies (only when done)


class Job:
    """A long piece of work. Subclasses set `kind` (words for the status line) and implement `run` (the work,
    posting each step and returning the last progress, `done`) and `finish` (the GUI side: apply the result,
    return the message)."""

    kind: ClassVar[str] = "job"
    owns_image: ClassVar[bool] = False  # while it runs, its pictures are the picture (no renders are asked for)
    apart: ClassVar[bool] = False  # runs on a thread of its own instead of the worker's

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop after the current step; what was reached is kept where the job can keep it."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self, host: Any, post: Callable[[JobProgress], None]) -> JobProgress:
        """Do the work, `post`ing each step; return the last progress, `done`, with the result. `host` is the
        worker for jobs on the model, None for jobs `apart`."""
        raise NotImplementedError

    def describe(self, p: JobProgress) -> str:
        """The progress bar's words for a step."""
        left = f", {p.eta_s:.0f} s left" if p.eta_s == p.eta_s and not p.done else ""
        return f"{self.kind}: {p.stage + ' ' if p.stage else ''}{p.step}/{p.total}{left}"

    def finish(self, p: JobProgress, presenter: "Presenter") -> str:
        """Apply a finished job's result in the GUI thread; the status message to show."""
        return f"{self.kind} {'stopped' if p.cancelled else 'finished'}"

    def failed(self, error: str) -> JobProgress:
        return JobProgress(self.generation, done=True, error=error)


def run_apart(job: Job, post: Callable[[JobProgress], None]) -> threading.Thread:
    """Run `job` on a thread of its own, posting its progress; a failure becomes its last progress."""

    def body() -> None:
        try:
            post(job.run(None, post))
        except Exception as exc:  # noqa: BLE001 - reported like any job's failure; the editor goes on
            post(job.failed(str(exc) if isinstance(exc, SpatialGANError) else f"{type(exc).__name__}: {exc}"))

    thread = threading.Thread(target=body, name=f"spatialgan-{job.kind.replace(' ', '-')}", daemon=True)
    thread.start()
    return thread


class OpenModel(Job):
    """Load another model (a network pickle is imported the first time, which takes a while) while the current
    one keeps running; the editor is rebuilt around it once it is loaded."""

    kind = "opening a model"
    apart = True

    def __init__(self, generation: int, loader: Callable[[str, Callable[[str], None]], Any], path: str) -> None:
        super().__init__(generation)
        self.loader, self.path = loader, path

    def run(self, host: Any, post: Callable[[JobProgress], None]) -> JobProgress:
        model = self.loader(self.path, lambda stage: post(JobProgress(self.generation, stage=stage)))
        return JobProgress(self.generation, done=True, result={"model": model})

    def describe(self, p: JobProgress) -> str:
        return f"opening {self.path}: {p.stage} ..." if p.stage else f"opening {self.path} ..."

    def finish(self, p: JobProgress, presenter: "Presenter") -> str:
        presenter.next_model = p.result["model"]
        return f"opened {self.path}"


class WriteVideo(Job):
    """Encode frames into a video file on a thread of its own."""

    kind = "writing a video"
    apart = True

    def __init__(self, generation: int, path: Any, frames: list[np.ndarray], write: Callable[..., Any],
                 what: str = "video") -> None:
        super().__init__(generation)
        self.path, self.frames, self.write, self.what = path, frames, write, what

    def run(self, host: Any, post: Callable[[JobProgress], None]) -> JobProgress:
        post(JobProgress(self.generation, 0, len(self.frames), stage="frames"))
        written = self.write(self.path, self.frames)
        n = len(self.frames)
        return JobProgress(self.generation, n, n, done=True, result={"path": str(written)})

    def finish(self, p: JobProgress, presenter: "Presenter") -> str:
        return f"{self.what} ({len(self.frames)} frames) saved to {Path(p.result['path']).resolve()}"
