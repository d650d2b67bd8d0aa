"""The editor's presenter without a display: what it submits, which results it shows or drops, and how a refine, a
level hint and the exports come back. Tiny random models on the CPU, the real worker thread."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from app.controller import Controller
from app.jobs import Job, JobProgress
from app.messages import RenderResult
from app.model_jobs import ExportHistory, InvertPhoto, Refine
from app.presenter import Presenter, Update
from app.worker import Worker
from spatialgan.errors import SpatialGANError

from conftest import tiny_models

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def presenter():
    made = []

    def make(encoding: str = "sel_indoor", mode: str = "multi") -> Presenter:
        worker = Worker(tiny_models(encoding, mode)[0], torch.device("cpu"), f"tiny {encoding}")
        c = Controller.for_worker(worker, 3, 0.7, "tiny.safetensors")
        c.autosave_path = None  # type: ignore[assignment]
        made.append(worker)
        return Presenter(c, worker)

    yield make
    for w in made:
        w.close()


def tick_until(p: Presenter, done, timeout: float = 30.0) -> list[Update]:
    updates, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        updates.append(p.tick())
        if done(updates[-1]):
            return updates
        time.sleep(0.005)
    raise AssertionError("the presenter never got there")


def refine(p: Presenter, mode: str = "joint", lr: float = 2e-3, steps: int = 3, latent: str = "w+") -> bool:
    """Start a refine as the editor's Run button does: the controller's input and settings, a Refine job."""
    p.c.set_refine(mode=mode, lr=lr, max_steps=steps, latent=latent)
    generation, start = p.c.refine_input()
    if not p.start(Refine(generation, start, p.c.state.refine)):
        return False
    p.refine_targets = list(start.targets)
    return True


def job_ended(u: Update) -> bool:
    return u.job_ended


def test_presenter_imports_no_gui() -> None:
    code = ("import sys\nsys.modules['dearpygui'] = sys.modules['dearpygui.dearpygui'] = None\n"
            "import app.presenter\nprint('ok')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_an_edit_is_rendered_once_and_shown(presenter) -> None:
    p = presenter()
    first = tick_until(p, lambda u: u.image is not None)[-1]
    assert first.image.shape == (32, 32, 3) and len(first.heatmaps) == 1  # one panel: the objects
    assert p.shown == p.c.state.generation and not p.busy
    renders = p.worker.renders
    for _ in range(5):  # nothing changed: nothing submitted
        assert p.tick().image is None
    assert p.worker.renders == renders
    p.c.move_centre(0, 0, 0.8, 0.2, gesture=p.c.new_gesture())
    moved = tick_until(p, lambda u: u.image is not None)[-1]
    assert not np.array_equal(moved.image, first.image)


def test_stale_results_are_dropped(presenter) -> None:
    p = presenter()
    tick_until(p, lambda u: u.image is not None)
    shown = p.image
    stale = RenderResult(p.shown - 1, np.zeros_like(shown))
    p.worker._results.put(stale)
    assert p.tick().image is None and p.image is shown
    failed = RenderResult(p.shown, None, error="ValueError: boom")
    p.worker._results.put(failed)
    assert p.tick().image is None and p.status.error == "ValueError: boom" and p.image is shown


def test_a_refine_runs_to_an_undoable_edit(presenter) -> None:
    p = presenter()
    tick_until(p, lambda u: u.image is not None)
    with pytest.raises(SpatialGANError, match="handle point"):
        refine(p)
    p.c.add_point(10, 12)
    p.c.add_point(18, 12)
    depth = len(p.c.state.undo_stack)
    assert refine(p) and p.refining and p.status.job == "refine"
    assert not refine(p), "one job in the worker at a time"
    updates = tick_until(p, job_ended)
    assert any(u.job is not None and not u.job.done for u in updates), "progress comes step by step"
    assert not p.refining and p.c.state.edit.ws_override is not None
    assert len(p.c.state.undo_stack) == depth + 1 and p.status.message.startswith("refine finished")
    assert p.tracked == [] and p.status.job == "" and p.status.bar_text == ""


def test_a_hierarchical_model_reports_inert_levels(presenter) -> None:
    p = presenter("sel_norm", "hierarchical")
    updates = tick_until(p, lambda u: u.inert is not None, timeout=60)
    assert len(updates[-1].inert) == 3 == len(p.info.capabilities.panels)


def test_exports(presenter, tmp_path: Path) -> None:
    p = presenter()
    with pytest.raises(SpatialGANError, match="nothing rendered"):
        p.export_image(str(tmp_path / "a.png"))
    tick_until(p, lambda u: u.image is not None)
    with pytest.raises(SpatialGANError, match="ending in .png"):
        p.export_image(str(tmp_path / "a.txt"))
    assert p.export_image(str(tmp_path / "a.png")).exists()
    p.c.move_centre(0, 1, 0.3, 0.3, gesture=p.c.new_gesture())
    assert p.start(ExportHistory(p.c.export_history_request(str(tmp_path / "h.gif"))))
    tick_until(p, job_ended)
    assert (tmp_path / "h.gif").exists() and "2 frames" in p.status.message


def test_a_slow_model_shows_drafts_during_a_gesture_and_the_full_picture_after(presenter, monkeypatch) -> None:
    """While a gesture goes on, a model slower than the draft threshold is drawn up to a coarser block; when the
    gesture ends the full picture follows. A fast model never drafts."""
    import app.presenter as mod

    p = presenter("sel_norm", "hierarchical")
    tick_until(p, lambda u: u.image is not None)
    assert p.draft_resolution is None, "a 32 px model has no block worth a draft"
    p.draft_resolution = 16  # as a large model would offer
    monkeypatch.setattr(mod, "DRAFT_ABOVE_MS", -1.0)  # and as if it were slow
    monkeypatch.setattr(mod, "PAUSE_S", 60.0)  # a loaded machine must not look like a paused gesture
    g = p.c.new_gesture()
    p.gesture(True)
    p.c.move_centre(0, 0, 0.3, 0.4, gesture=g)
    draft = tick_until(p, lambda u: u.image is not None)[-1]
    assert draft.image.shape == (16, 16, 3) and p.shown_draft and p.busy
    p.gesture(False)
    full = tick_until(p, lambda u: u.image is not None)[-1]
    assert full.image.shape == (32, 32, 3) and not p.shown_draft and p.shown == p.c.state.generation


def test_pictures_fill_the_canvas_at_any_resolution() -> None:
    from app.ui.geometry import image_rgba

    for r in (256, 1024):  # not a divisor of 640, and larger than the canvas
        img = np.zeros((r, r, 3), np.uint8)
        img[:, r // 2:] = 255
        out = image_rgba(img, 640).reshape(640, 640, 4)
        assert out[:, :300, 0].max() == 0 and out[:, 340:, 0].min() == 1.0, r


def test_another_model_loads_in_the_background(presenter) -> None:
    """Opening a model (a pickle's first import takes a while) runs apart, leaving the current one running; a bad
    file becomes the last error, a good one is handed over once."""
    import threading

    from app.jobs import OpenModel

    p = presenter()
    gate = threading.Event()

    def slow(path: str, progress):
        progress("reading the pickle")
        gate.wait(10)
        if path == "bad":
            raise SpatialGANError("no checkpoint at bad")
        return ("model", path)

    assert p.start(OpenModel(0, slow, "good")) and not p.start(OpenModel(0, slow, "other")), "one load at a time"
    assert p.next_model is None and p.loading_model
    end = time.monotonic() + 10
    while "reading the pickle" not in p.status.bar_text and time.monotonic() < end:
        p.tick()
        time.sleep(0.01)
    assert p.status.bar_text == "opening good: reading the pickle ...", "the loader's stages reach the status"
    p.c.move_centre(0, 0, 0.7, 0.3, gesture=p.c.new_gesture())
    tick_until(p, lambda u: u.image is not None)  # the current model keeps drawing meanwhile
    gate.set()
    tick_until(p, lambda u: p.next_model is not None, timeout=10)
    assert p.next_model == ("model", "good") and not p.loading_model
    p.next_model = None
    gate.clear()
    assert p.start(OpenModel(0, slow, "bad"))
    gate.set()
    tick_until(p, lambda u: not p.loading_model, timeout=10)
    assert p.status.error == "no checkpoint at bad" and p.next_model is None


def test_a_photo_is_inverted_into_the_edit_and_the_model_tuned(tmp_path: Path, monkeypatch) -> None:
    """Open photo, in the worker: progress comes step by step; the photo's latent and layout become an undoable edit
    drawn with the tuned weights, saved under the cache and named by the session; a bad photo is an error and the
    model stays as it was."""
    from PIL import Image

    from app.state import read_session
    from spatialgan import load_checkpoint, load_generator
    from spatialgan.data.procedural import PetsDataset

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = Path(__file__).resolve().parents[1]
    G, _ = load_generator(str(root / "checkpoints" / "pets64.safetensors"), None, "cpu")
    worker = Worker(G, torch.device("cpu"), str(root / "checkpoints" / "pets64.safetensors"))
    try:
        c = Controller.for_worker(worker, 3, 0.7)
        c.autosave_path = None  # type: ignore[assignment]
        p = Presenter(c, worker)
        tick_until(p, lambda u: u.image is not None)
        assert p.start(InvertPhoto(c.new_generation(), str(tmp_path / "missing.png"), steps=3))
        tick_until(p, job_ended)
        assert "no photo" in p.status.error and c.state.model_path.endswith("pets64.safetensors")
        photo = tmp_path / "pet.png"
        Image.fromarray(PetsDataset(64, seed=7919).sample(2).image).save(photo)
        depth = len(c.state.undo_stack)
        assert p.start(InvertPhoto(c.new_generation(), str(photo), steps=10)) and p.status.job == "photo"
        updates = tick_until(p, job_ended, timeout=120)
        assert any(u.job is not None and not u.job.done for u in updates), "progress comes while it runs"
        assert p.status.error == "" and "inverted" in p.status.message and p.status.bar_text == ""
        e = c.state.edit
        assert e.ws_override is not None and e.spec is not None and e.homes == e.spec.object_places()
        assert len(c.state.undo_stack) == depth + 1
        tuned = Path(c.state.model_path)
        assert tuned.exists() and str(tmp_path / "cache") in str(tuned)
        assert load_checkpoint(tuned).info.meta["photo"] == str(photo)
        final = tick_until(p, lambda u: u.image is not None)[-1].image  # the edit, drawn with the tuned weights
        target = np.asarray(Image.open(photo).convert("RGB"), np.float32)
        assert np.abs(final.astype(np.float32) - target).mean() < 40
        path = c.save_session(tmp_path / "s.json")
        assert read_session(path, 64, 1)[0] == str(tuned)
    finally:
        worker.close()


def test_the_compare_key_shows_the_scene_before_all_edits(presenter) -> None:
    """Held, the compare key asks once for the original; a new scene (seed) asks again."""
    p = presenter()
    tick_until(p, lambda u: u.image is not None)
    before = p.image.copy()
    p.c.move_centre(0, 0, 0.2, 0.8, gesture=p.c.new_gesture())
    tick_until(p, lambda u: u.image is not None)
    assert np.abs(p.image.astype(float) - before).mean() > 0.5
    assert p.original_image is None  # nothing is rendered until someone asks
    p.want_original = True
    tick_until(p, lambda u: p.original_image is not None)
    assert np.array_equal(p.original_image, before)
    assert p.c.state.generation == p.shown  # the edit itself was not touched
    p.c.set_seed(7)  # a new scene: its own original
    tick_until(p, lambda u: u.image is not None)
    tick_until(p, lambda u: p.original_image is not None)
    assert np.array_equal(p.original_image, p.image)


def test_refine_frames_and_video(presenter, tmp_path) -> None:
    """Every step of a refine is kept for the video: the start and the picture after each step."""
    from app.jobs import WriteVideo
    from spatialgan.video import read_video, video_scale, write_video

    p = presenter("sel_norm", "hierarchical")
    tick_until(p, lambda u: u.image is not None)
    with pytest.raises(SpatialGANError, match="run a DragGAN refine first"):
        p.refine_video_frames()
    p.c.add_point(8, 8)
    p.c.add_point(20, 8)
    assert refine(p, "draggan", 2e-3, 4)
    tick_until(p, job_ended)
    steps = p.job_last.step
    assert len(p.refine_frames) == steps + 1
    assert p.start(WriteVideo(0, tmp_path / "r.mp4", p.refine_video_frames(points=False), write_video))
    tick_until(p, lambda u: not p.loading_model)
    assert "saved to" in p.status.message, (p.status.message, p.status.error)
    frames = read_video(tmp_path / "r.mp4")
    assert len(frames) == steps + 1
    res, scale = p.info.resolution, video_scale(p.info.resolution)
    for k, (frame, (image, _points)) in enumerate(zip(frames, p.refine_frames)):  # each frame is its step's picture
        small = frame.reshape(res, scale, res, scale, 3).astype(np.float32).mean((1, 3))
        # (consecutive steps of a tiny random model differ by about one level: the order is shown by the
        # history video's test, where the states differ clearly)
        assert np.abs(small - image.astype(np.float32)).mean() < 2.0, k
    assert p.start(WriteVideo(0, tmp_path / "r.gif", p.refine_video_frames(points=True), write_video))
    tick_until(p, lambda u: not p.loading_model)
    assert len(read_video(tmp_path / "r.gif")) == steps + 1


def test_clearing_no_points_keeps_the_redo_history(presenter) -> None:
    p = presenter()
    c = p.c
    c.add_point(3, 3)
    c.add_point(9, 3)
    c.undo()
    c.undo()
    assert len(c.state.redo_stack) == 2
    assert not p.clear_points()  # nothing to clear: no undo step, redo kept
    assert len(c.state.redo_stack) == 2 and c.state.undo_stack == []
    c.redo()
    c.redo()
    depth = len(c.state.undo_stack)
    assert p.clear_points() and c.state.edit.handles == [] and len(c.state.undo_stack) == depth + 1
    c.undo()
    assert len(c.state.edit.handles) == 1 and len(c.state.edit.targets) == 1  # clearing is one undo step


def test_save_status_says_what_happened(presenter, tmp_path) -> None:
    p = presenter()
    c = p.c
    assert c.save_status() == "no edits yet"
    c.set_psi(0.5)
    assert c.save_status().startswith("unsaved changes")
    path = c.save_session(tmp_path / "s.json")
    assert c.save_status() == f"saved: {path}"
    c.set_psi(0.6)
    c.load_session(path)
    assert c.save_status() == f"saved: {path}"


def test_export_image_writes_to_the_path_and_refuses_bad_ones(presenter, tmp_path) -> None:
    p = presenter()
    tick_until(p, lambda u: u.image is not None)
    out = p.export_image(tmp_path / "sub" / "e.png")
    assert out.is_file() and str(out.resolve()) in p.status.message
    assert (out.stat().st_mode & 0o777) == 0o666 & ~_umask()
    for bad, words in ((tmp_path, "folder"), (tmp_path / "e.txt", "ending in"), (out / "x.png", "is a file"),
                       ("", "empty")):
        with pytest.raises(SpatialGANError, match=words):
            p.export_image(bad)


def _umask() -> int:
    import os

    m = os.umask(0o022)
    os.umask(m)
    return m


def test_a_refine_can_optimise_w_instead_of_w_plus(presenter) -> None:
    """The editor's "optimise" choice reaches the session: w moves every layer alike, w+ only the first ones."""
    results = {}
    for optimise in ("w", "w+"):
        p = presenter("sel_norm", "hierarchical")
        tick_until(p, lambda u: u.image is not None)
        p.c.add_point(8, 8)
        p.c.add_point(20, 8)
        assert refine(p, "draggan", 2e-2, 3, optimise)
        tick_until(p, job_ended)
        results[optimise] = p.c.state.edit.ws_override[0, 0]  # (num_ws, w_dim)
    w, wplus = results["w"], results["w+"]
    assert np.allclose(w, w[:1], atol=1e-6), "w: still one vector on every layer"
    assert not np.allclose(wplus, wplus[:1], atol=1e-6), "w+: the first layers moved apart from the rest"


class _Toy(Job):
    """A job kind the editor has never seen, defined here: it counts, posting each number, and its result sets the
    seed. Nothing outside this class (and the line that starts it) knows of it."""

    kind = "counting"

    def __init__(self, generation: int, upto: int, delay: float = 0.0) -> None:
        super().__init__(generation)
        self.upto, self.delay = upto, delay

    def run(self, host, post) -> JobProgress:
        for i in range(1, self.upto + 1):
            if self.cancelled:
                return JobProgress(self.generation, i - 1, self.upto, done=True, cancelled=True,
                                   result={"seed": 100 + i - 1})
            time.sleep(self.delay)
            post(JobProgress(self.generation, i, self.upto, "counting"))
        return JobProgress(self.generation, self.upto, self.upto, done=True, result={"seed": 100 + self.upto})

    def finish(self, p: JobProgress, presenter: Presenter) -> str:
        presenter.c.set_seed(p.result["seed"])
        return f"counted to {p.step}"


def test_a_new_job_kind_needs_nothing_but_itself(presenter) -> None:
    p = presenter()
    tick_until(p, lambda u: u.image is not None)
    p.status.say("refine finished after 200 steps")  # what a previous job left
    p.status.fail("an old error")
    assert p.start(_Toy(p.c.state.generation, 5))
    assert p.status.job == "counting" and p.status.message == "" and p.status.error == "", "a new job: no stale text"
    tick_until(p, job_ended)
    assert p.job_steps_seen == 5 and p.job_last.step == 5 and p.status.message == "counted to 5"
    assert p.c.state.edit.seed == 105 and p.status.job == "" and p.status.bar_text == ""
    tick_until(p, lambda u: u.image is not None)  # and the editor draws on


def test_stop_keeps_what_was_reached_and_stale_progress_is_cleared(presenter) -> None:
    p = presenter()
    tick_until(p, lambda u: u.image is not None)
    assert p.start(_Toy(p.c.state.generation, 1000, delay=0.01))
    tick_until(p, lambda u: u.job is not None and u.job.step >= 3)
    assert p.status.bar_text.startswith("counting: counting ")
    p.stop()
    tick_until(p, job_ended)
    assert p.status.message.startswith("counted to") and 3 <= p.c.state.edit.seed - 100 < 1000
    # a finished job's bar is gone, and an undo does not bring back its words
    assert p.status.bar_text == ""
    p.status.bar("counting: 1000/1000", 1.0, p.c.state.generation)  # as if a job had just ended here
    p.c.undo()
    p.tick()
    assert p.status.bar_text == "" and p.status.activity(False) == "idle"


def test_a_failed_job_says_why_and_the_editor_goes_on(presenter) -> None:
    class Broken(_Toy):
        def run(self, host, post) -> JobProgress:
            raise RuntimeError("the disk is full")

    p = presenter()
    tick_until(p, lambda u: u.image is not None)
    assert p.start(Broken(p.c.state.generation, 3))
    tick_until(p, job_ended)
    assert "the disk is full" in p.status.error and p.status.job == "" and p.job is None
    assert p.start(_Toy(p.c.state.generation, 2))  # the slot is free again
    tick_until(p, job_ended)


def test_a_photos_time_left_falls_from_measured_step_times() -> None:
    """A fake clock: W and W+ steps take 1 s, PTI steps 20% more than the prior foresees. The estimate comes from
    measured step times per stage and never rises by more than 20% from one update to the next."""
    from app.model_jobs import PRIOR_COST, StageClock

    now = [0.0]
    clock = StageClock(10, clock=lambda: now[0])
    estimates = []
    pti = 1.2 * PRIOR_COST["pti"]
    for stage, cost in (("w", 1.0), ("w+", 1.0), ("pti", pti)):
        for _ in range(10):
            now[0] += cost
            estimates.append(clock.tick(stage))
    assert all(b <= a * 1.2 + 1e-9 for a, b in zip(estimates, estimates[1:])), estimates
    assert estimates[-1] == 0 and estimates[0] > estimates[15] > estimates[25]
    # once PTI is timed, its steps are counted at their own cost
    assert abs(estimates[24] - 5 * pti) < 1e-6


def test_a_slow_models_refine_shows_the_drafts_its_steps_draw(presenter, monkeypatch) -> None:
    """Where drawing the rest of the picture after the feature tap is slow, a refine's steps show the tap block's
    picture, which the step drew anyway; the final picture is whole, and the video scales the drafts up."""
    import app.model_jobs as jobs

    monkeypatch.setattr(jobs, "FULL_PICTURE_S", -1.0)  # as if this 32 px model were a 1024 px one
    p = presenter("sel_norm", "hierarchical")
    tick_until(p, lambda u: u.image is not None)
    p.c.add_point(8, 8)
    p.c.add_point(20, 8)
    assert refine(p, "draggan", 2e-3, 4)
    updates = tick_until(p, job_ended)
    sizes = [u.image.shape[0] for u in updates if u.image is not None]
    tap = p.info.capabilities.default_tap
    assert tap < 32 and tap in sizes, sizes  # drafts at the tap block's size while it runs
    assert sizes[0] == tap, "the worker's last picture was slow: drafts from the first step"
    assert p.job_last.image.shape[0] == 32  # the final picture is whole
    frames = p.refine_video_frames(points=True)
    assert len(frames) == len(p.refine_frames) and len({f.shape for f in frames}) == 1, "one size for the video"
