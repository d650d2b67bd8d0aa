"""Editor state, actions and worker without a display: tiny random models on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.controller import Controller
from app.export import ExportError, history_frame
from spatialgan.files import temp_name
from spatialgan.video import read_video
from app.jobs import JobProgress
from app.messages import LatentSpec, RenderRequest, RenderResult
from app.model_jobs import ExportHistory, Refine, RefineInput
from draggan import DragConfig
from app.state import SessionError, mask_from_rle, mask_to_rle, model_to_open, session_to_dict
from app.worker import Worker
from spatialgan import HeatmapSpec, load_generator, save_checkpoint
from PIL import Image

from spatialgan.errors import SpatialGANError

from conftest import load_script, tiny_models


@pytest.fixture(scope="module")
def indoor_worker():
    G, _ = tiny_models("sel_indoor", "multi")
    w = Worker(G, torch.device("cpu"), "tiny sel_indoor")
    yield w
    w.close()


@pytest.fixture(scope="module")
def hier_worker():
    G, _ = tiny_models("sel_norm", "hierarchical")
    w = Worker(G, torch.device("cpu"), "tiny sel_norm")
    yield w
    w.close()


def make(worker: Worker, seed: int = 3) -> Controller:
    c = Controller.for_worker(worker, seed, 0.7, "tiny.safetensors")
    c.autosave_path = None  # type: ignore[assignment]
    return c


def render(worker: Worker, c: Controller) -> RenderResult:
    worker.submit(c.render_request())
    assert worker.wait_idle()
    results = [r for r in worker.poll() if isinstance(r, RenderResult)]
    assert results and results[-1].error == "", results[-1].error if results else "no result"
    assert results[-1].generation == c.state.generation
    return results[-1]


def test_drag_level0_carries_children_and_undo_redo(hier_worker: Worker) -> None:
    c = make(hier_worker)
    spec = c.state.edit.spec
    before = [(li, ci, x, y) for li, ci, x, y, *_ in c.centres()]
    x0, y0 = spec.absolute(0, 0)
    g = c.new_gesture()
    for k in range(1, 6):  # one gesture of five moves is one undo step
        c.move_centre(0, 0, x0 + 0.02 * k, y0 + 0.01 * k, gesture=g)
    after = [(li, ci, x, y) for li, ci, x, y, *_ in c.centres()]
    for (li, ci, xa, ya), (_, _, xb, yb) in zip(before, after):
        assert xb - xa == pytest.approx(0.1, abs=1e-6) and yb - ya == pytest.approx(0.05, abs=1e-6), (li, ci)
    assert len(c.state.undo_stack) == 1 and c.state.dirty
    # moving a child moves only it
    cx, cy = c.state.edit.spec.absolute(1, 0)
    c.move_centre(1, 0, cx - 0.05, cy, gesture=c.new_gesture())
    assert c.state.edit.spec.absolute(1, 1) == pytest.approx(after[2][2:])
    assert c.undo() and c.undo()
    assert [(li, ci, x, y) for li, ci, x, y, *_ in c.centres()] == before
    assert c.redo()
    assert c.state.edit.spec.absolute(0, 0) == pytest.approx((x0 + 0.1, y0 + 0.05))
    assert not c.redo() or True


def test_removing_a_root_removes_its_object_in_one_undo_step(hier_worker: Worker) -> None:
    c = make(hier_worker)
    base = render(hier_worker, c).image.astype(int)
    c.set_enabled(0, 0, False)
    assert not any(enabled for *_, enabled in c.centres())  # the root and every descendant
    assert np.abs(render(hier_worker, c).image.astype(int) - base).mean() > 1
    assert len(c.state.undo_stack) == 1 and c.undo()
    assert all(enabled for *_, enabled in c.centres())
    assert np.array_equal(render(hier_worker, c).image, base.astype(np.uint8))


def test_move_is_clamped_and_never_breaks_the_spec(hier_worker: Worker) -> None:
    c = make(hier_worker)
    c.move_centre(0, 0, 5.0, -5.0, gesture=c.new_gesture())
    c.state.edit.spec.validate(hier_worker.G.config)  # still renderable


def test_sigma_remove_restore_change_the_image(indoor_worker: Worker) -> None:
    c = make(indoor_worker)
    base = render(indoor_worker, c).image.astype(int)
    s0 = c.state.edit.spec.levels[0][1].sigma
    c.set_sigma(0, 1, s0 * 2)
    c.set_sigma(0, 1, s0 * 1.5)  # same slider gesture: merged
    assert len(c.state.undo_stack) == 1
    assert c.state.edit.spec.levels[0][1].sigma == pytest.approx(s0 * 1.5)
    assert np.abs(render(indoor_worker, c).image.astype(int) - base).mean() > 0.1
    c.scale_sigmas(0.5)
    assert c.state.edit.spec.levels[0][0].sigma < c.state.undo_stack[-1].spec.levels[0][0].sigma
    c.undo(), c.undo()
    assert c.state.edit.spec.levels[0][1].sigma == pytest.approx(s0)
    c.set_enabled(0, 2, False)
    removed = render(indoor_worker, c)
    assert c.state.edit.spec.levels[0][2].weight == 1.0  # kept for restoring
    assert np.abs(removed.image.astype(int) - base).mean() > 0.1
    c.set_enabled(0, 2, True)
    assert np.array_equal(render(indoor_worker, c).image, base.astype(np.uint8))


def test_resample_changes_only_that_code(indoor_worker: Worker) -> None:
    c = make(indoor_worker)
    ws0 = indoor_worker.ws(c.state.edit.latent()).clone()
    used = c.resample_code(1, seed=99)
    assert used == 99 and c.state.edit.code_seeds == [None, 99, None, None]
    ws1 = indoor_worker.ws(c.state.edit.latent())
    changed = [(ws1[:, k] - ws0[:, k]).abs().max().item() > 0 for k in range(ws0.shape[1])]
    assert changed == [False, True, False, False]
    # reproducible: same seed, same code
    assert torch.equal(indoor_worker.ws(c.state.edit.latent()), ws1)
    with pytest.raises(IndexError):
        c.resample_code(7)


def test_seed_and_psi(indoor_worker: Worker) -> None:
    c = make(indoor_worker)
    spec0 = c.state.edit.spec.to_dict()
    c.set_seed(4)
    assert c.state.edit.spec.to_dict() != spec0
    c.set_seed(5, keep_layout=True)
    assert c.state.edit.seed == 5
    c.set_psi(0.3)
    c.set_psi(0.4)
    assert c.state.edit.psi == 0.4 and len(c.state.undo_stack) == 3
    c.undo()
    assert c.state.edit.psi == 0.7


def test_session_round_trip(tmp_path, indoor_worker: Worker) -> None:
    c = make(indoor_worker)
    c.move_centre(0, 0, 0.3, 0.6, gesture=c.new_gesture())
    c.resample_code(2, seed=11)
    c.set_enabled(0, 1, False)
    c.add_point(3, 4), c.add_point(10, 12), c.add_point(20, 20)
    mask = np.zeros((32, 32), bool)
    mask[5:9, 2:30] = True
    c.set_mask(mask)
    c.apply_refine(np.random.default_rng(0).standard_normal((1, 4, 8, 32)).astype(np.float32), None,
                   [(4.0, 5.0)])
    c.resample_code(0, seed=5)
    path = c.save_session(tmp_path / "s.json")
    assert not c.state.dirty
    d = make(indoor_worker, seed=8)
    assert d.load_session(path) == "tiny.safetensors"
    a, b = c.state.edit, d.state.edit
    assert (a.seed, a.psi, a.code_seeds, a.handles, a.targets) == (b.seed, b.psi, b.code_seeds, b.handles, b.targets)
    assert a.spec.to_dict() == b.spec.to_dict()
    assert np.array_equal(a.mask, b.mask) and np.array_equal(a.ws_override, b.ws_override)
    assert np.array_equal(render(indoor_worker, c).image, render(indoor_worker, d).image)
    assert d.undo() and d.state.edit.seed == 8  # loading is undoable
    assert json.loads(path.read_text())["mask"]["runs"][0] == 5 * 32 + 2


def test_a_session_saved_with_another_model_names_it(tmp_path: Path) -> None:
    """Load session opens the model a session was saved with (an inverted photo's tuned weights) when it is another
    file that exists; the same file, a missing one or none keeps the current model."""
    current, other = tmp_path / "base.safetensors", tmp_path / "tuned.safetensors"
    current.write_bytes(b"x")
    other.write_bytes(b"y")

    def session(model_path: object) -> Path:
        path = tmp_path / f"s{len(list(tmp_path.glob('s*.json')))}.json"
        path.write_text(json.dumps({"format": "spatialgan-session", "model_path": model_path}))
        return path

    assert model_to_open(session(str(other)), str(current)) == str(other)
    assert model_to_open(session(str(tmp_path / "." / "base.safetensors")), str(current)) is None
    assert model_to_open(session(str(tmp_path / "gone.safetensors")), str(current)) is None
    assert model_to_open(session(""), str(current)) is None
    assert model_to_open(session(3), "untrained 64 px network") is None
    assert model_to_open(session(str(other)), "untrained 64 px network") == str(other)
    with pytest.raises(SessionError, match="not valid JSON"):
        bad = tmp_path / "bad.json"
        bad.write_text("{")
        model_to_open(bad, str(current))


def test_mask_rle() -> None:
    for m in [np.zeros((4, 4), bool), np.ones((4, 4), bool), np.eye(4, dtype=bool)]:
        assert np.array_equal(mask_from_rle(mask_to_rle(m), 4), m)


@pytest.mark.parametrize("content, words", [
    ("{not json", "not valid JSON"),
    ('{"format": "other"}', "not a SpatialGAN session"),
    ('{"format": "spatialgan-session", "version": 1, "seed": -1, "psi": 0.7}', "seed must be"),
    ('{"format": "spatialgan-session", "version": 1, "seed": 1, "psi": 0.7, "code_seeds": [1]}', "code_seeds"),
    ('{"format": "spatialgan-session", "version": 1, "seed": 1, "psi": 0.7, "spec": {"mode": "multi", '
     '"levels": [[{"x": 0.5, "y": 0.5, "sigma": -1}]]}}', "sigma must be > 0"),
    ('{"format": "spatialgan-session", "version": 1, "seed": 1, "psi": 0.7, "mask": {"shape": [3, 3], "runs": [9]}}',
     "mask has shape"),
    ('{"format": "spatialgan-session", "version": 1, "seed": 1, "psi": 0.7, "handles": [[1, 99]]}',
     "outside the 32x32 image"),
])
def test_bad_session_file_is_a_clear_error(tmp_path, indoor_worker: Worker, content: str, words: str) -> None:
    c = make(indoor_worker)
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(SessionError, match=words) as info:
        c.load_session(p)
    assert isinstance(info.value, SpatialGANError) and str(p) in str(info.value)
    assert c.state.undo_stack == []  # nothing changed
    with pytest.raises(SessionError, match="does not exist"):
        c.load_session(tmp_path / "missing.json")


def test_autosave(tmp_path, indoor_worker: Worker) -> None:
    c = make(indoor_worker)
    c.autosave_path = tmp_path / "cache" / "autosave.json"
    assert c.autosave() is None  # nothing unsaved
    c.set_psi(0.5)
    assert c.autosave() == c.autosave_path
    d = make(indoor_worker)
    d.load_session(c.autosave_path)
    assert d.state.edit.psi == 0.5


def test_worker_drops_stale_requests(indoor_worker: Worker) -> None:
    c = make(indoor_worker)
    indoor_worker.poll()
    start = indoor_worker.renders
    x0, y0 = c.state.edit.spec.absolute(0, 0)
    g = c.new_gesture()
    n = 60
    for k in range(n):
        c.move_centre(0, 0, x0 + 0.003 * k, y0, gesture=g)
        indoor_worker.submit(c.render_request())
    assert indoor_worker.wait_idle()
    results = indoor_worker.poll()
    assert results[-1].generation == c.state.generation
    done = indoor_worker.renders - start
    assert 1 <= done < n and len(results) == done


def test_worker_returns_errors_as_values(indoor_worker: Worker) -> None:
    bad = {"mode": "multi", "levels": [[{"x": 0.5, "y": 0.5, "sigma": 0.1}]]}  # 1 object, model has 3
    indoor_worker.poll()
    indoor_worker.submit(RenderRequest(1, LatentSpec(0, 0.7, (None,) * 4), HeatmapSpec.from_dict(bad)))
    assert indoor_worker.wait_idle()
    (r,) = indoor_worker.poll()
    assert r.image is None and "per-object style codes" in r.error
    indoor_worker.start(Refine(2, RefineInput(LatentSpec(0, 0.7, (None,) * 4), None, ((1, 1),), ((5, 5),)),
                               DragConfig(mode="draggan")))
    assert indoor_worker.wait_idle()
    (p,) = indoor_worker.poll()
    assert isinstance(p, JobProgress) and p.done and "heatmap" in p.error
    # and it still works afterwards
    assert render(indoor_worker, make(indoor_worker)).image.shape == (32, 32, 3)


def test_refine_progress_cancel_and_apply(hier_worker: Worker) -> None:
    c = make(hier_worker)
    c.add_point(10, 16), c.add_point(16, 16)
    hier_worker.poll()
    hier_worker.start(Refine(*c.refine_input(), DragConfig(mode="draggan", max_steps=4)))
    assert hier_worker.wait_idle(60)
    out = hier_worker.poll()
    assert all(isinstance(p, JobProgress) for p in out) and out[-1].done and out[-1].error == ""
    assert [p.step for p in out[:-1]] == list(range(1, len(out)))
    assert out[-1].result["ws"].shape[:2] == (1, 1)
    c.apply_refine(out[-1].result["ws"], out[-1].result["spec"], out[-1].points)
    assert c.state.edit.ws_override is not None and c.state.edit.handles[0] == tuple(out[-1].points[0])
    assert render(hier_worker, c).image.shape == (32, 32, 3)
    # cancel: a long refine stops early and says so
    job = Refine(*c.refine_input(), DragConfig(mode="joint", max_steps=500))
    hier_worker.start(job)
    import time
    time.sleep(0.3)
    job.cancel()
    assert hier_worker.wait_idle(60)
    last = hier_worker.poll()[-1]
    assert last.done and (last.cancelled or last.error == "refine cancelled") and last.step < 500


def test_refine_needs_points(hier_worker: Worker) -> None:
    with pytest.raises(SessionError, match="handle"):
        make(hier_worker).refine_input()


def test_load_generator_from_checkpoint(tmp_path) -> None:
    G, _ = tiny_models("sel_indoor", "multi")
    save_checkpoint(tmp_path / "m.safetensors", G)
    G2, source = load_generator(str(tmp_path / "m.safetensors"), None, torch.device("cpu"))
    assert source.endswith("m.safetensors") and G2.config == G.config
    with pytest.raises(SpatialGANError):
        load_generator(None, None, torch.device("cpu"))


def test_main_without_display_prints_a_message(monkeypatch, capsys, tmp_path) -> None:
    from app.main import main

    G, _ = tiny_models("sel_indoor", "multi")
    save_checkpoint(tmp_path / "m.safetensors", G)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["--checkpoint", str(tmp_path / "m.safetensors")]) == 0
    assert "no display found" in capsys.readouterr().out


def test_worker_tells_which_levels_barely_respond() -> None:
    """After its first picture the worker measures each heatmap level once; a level whose heatmap the model
    ignores (here the finest level's encoder outputs zero) is reported inert, the others not, and the panel
    caption says so. Multi-object models get no hint."""
    from app.messages import LevelHint
    from app.ui.geometry import panel_label

    G, _ = tiny_models("sel_norm", "hierarchical")
    finest = max(G.config.heatmap.levels)
    block = next(b for b in G.synthesis.blocks if b.res == finest)
    torch.nn.init.zeros_(block.heat_encoder.conv1.weight)
    torch.nn.init.zeros_(block.heat_encoder.conv1.bias)
    w = Worker(G, torch.device("cpu"), "tiny sel_norm")
    try:
        assert w.wait_idle() and not w.poll(), "no hint before the first picture: it must not delay it"
        w.submit(make(w).render_request())
        assert w.wait_idle(), "wait_idle also waits for the hint"
        results = w.poll()
        assert isinstance(results[0], RenderResult), "the picture comes first"
        hints = [r for r in results if isinstance(r, LevelHint)]
        assert len(hints) == 1 and hints[0].error == ""
        assert hints[0].inert == (False,) * (len(G.config.heatmap.levels) - 1) + (True,)
    finally:
        w.close()
    assert panel_label(2, 16, 0, inert=True) == "level 2: 16x16  (little effect in this model)"
    assert panel_label(None, 64, 3) == "3 objects"
    multi = Worker(tiny_models("sel_indoor", "multi")[0], torch.device("cpu"), "tiny sel_indoor")
    try:
        multi.submit(make(multi).render_request())
        assert multi.wait_idle() and not [r for r in multi.poll() if isinstance(r, LevelHint)]
    finally:
        multi.close()


def test_canvas_geometry_and_hit_test() -> None:
    from app.ui.geometry import Canvas, heatmap_rgba, hit_centre, image_rgba

    cv = Canvas("c", 512, None)
    assert cv.to_image((10, 20), *cv.to_screen((10, 20), 0.25, 0.75)) == pytest.approx((0.25, 0.75))
    centres = [(0, 0, 0.5, 0.5, 0.1, True), (1, 0, 0.52, 0.5, 0.1, True)]
    assert hit_centre(centres, None, 512, 0.515, 0.5) == (1, 0)
    assert hit_centre(centres, 0, 512, 0.515, 0.5) == (0, 0)
    assert hit_centre(centres, None, 512, 0.9, 0.9) is None
    assert image_rgba(np.zeros((32, 32, 3), np.uint8), 512).shape == (512 * 512 * 4,)
    assert heatmap_rgba(np.ones((4, 4), np.float32), 192).shape == (192 * 192 * 4,)


def test_smooth_image_fills_the_canvas_with_interpolated_pixels() -> None:
    """Crisp display repeats each pixel in blocks; smooth display blends neighbours, at the same size and range."""
    from app.ui.geometry import image_rgba

    img = np.zeros((64, 64, 3), np.uint8)
    img[:, 32:] = 255  # a hard vertical edge in the middle
    crisp = image_rgba(img, 640).reshape(640, 640, 4)
    smooth = image_rgba(img, 640, smooth=True).reshape(640, 640, 4)
    row_crisp, row_smooth = crisp[300, :, 0], smooth[300, :, 0]
    assert set(np.unique(row_crisp)) == {0.0, 1.0}  # blocks only
    between = (row_smooth > 0.01) & (row_smooth < 0.99)
    assert 2 <= between.sum() <= 20 and between[310:330].any()  # a short ramp at the edge, nowhere else
    assert smooth[..., 3] == pytest.approx(1.0) and smooth.min() >= 0.0 and smooth.max() <= 1.0 + 1e-6
    assert np.abs(smooth[..., :3] - crisp[..., :3]).mean() < 0.01  # the same picture


def test_heatmap_panel_fills_sizes_that_are_not_multiples() -> None:
    from app.ui.geometry import heatmap_rgba

    heat = np.zeros((64, 64), np.float32)
    heat[-1, -1] = 1.0  # the bottom-right cell must reach the panel's bottom-right corner
    rgba = heatmap_rgba(heat, 288).reshape(288, 288, 4)
    assert rgba[-1, -1, 0] == pytest.approx(1.0)
    assert rgba[0, 0, 0] == pytest.approx(0.08)


def _gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as im:
        out = []
        for k in range(im.n_frames):
            im.seek(k)
            out.append(np.asarray(im.convert("RGB")).astype(np.float32))
        return out


def _export(worker: Worker, c: Controller, path: Path, scale: int = 1) -> JobProgress:
    worker.poll()
    req = c.export_history_request(path, scale=scale)
    worker.start(ExportHistory(req))
    assert worker.wait_idle(60)
    done = [r for r in worker.poll() if isinstance(r, JobProgress) and r.done]
    assert len(done) == 1
    return done[0]


def test_history_export_gif_one_frame_per_state(tmp_path, indoor_worker: Worker) -> None:
    c = make(indoor_worker)
    images = [render(indoor_worker, c).image]
    c.move_centre(0, 0, 0.3, 0.6, gesture=c.new_gesture())
    images.append(render(indoor_worker, c).image)
    c.add_point(10, 10)  # an edit that leaves the picture as it was: still its own frame
    images.append(render(indoor_worker, c).image)
    c.set_enabled(0, 1, False)
    images.append(render(indoor_worker, c).image)
    c.resample_code(2, seed=5)
    images.append(render(indoor_worker, c).image)
    c.undo()  # the redo state is not part of the history
    images.pop()
    assert len(c.history()) == 4
    res = _export(indoor_worker, c, tmp_path / "h.gif", scale=2)
    assert res.error == "" and res.total == 4 and Path(res.result["path"]) == tmp_path / "h.gif"
    frames = _gif_frames(tmp_path / "h.gif")
    assert len(frames) == 4
    r = indoor_worker.info.resolution
    assert frames[0].shape == (2 * (r + 4), 2 * r, 3)
    shown = [f[: 2 * r : 2, ::2] for f in frames]  # the picture part, back at model resolution
    for f, im in zip(shown, images):  # each frame is its state's render (up to GIF palette quantisation)
        assert np.abs(f - im).mean() < 6
    diffs = [np.abs(a - b).mean() for a, b in zip(shown, shown[1:])]
    truth = [np.abs(a.astype(float) - b).mean() for a, b in zip(images, images[1:])]
    # The frames change exactly where the renders do (up to ~2 levels of per-frame palette noise): the move and
    # the removal change the picture, adding a point does not.
    assert truth[0] > 8 and truth[1] == 0 and truth[2] > 8, truth
    assert all(abs(d - t) < 4 for d, t in zip(diffs, truth)), (diffs, truth)
    # the progress bar under the picture grows frame by frame
    bars = [(f[2 * r + 2, :, 2] > 150).mean() for f in frames]
    assert bars == sorted(bars) and bars[-1] == 1.0


def test_history_export_errors_are_values(tmp_path, indoor_worker: Worker) -> None:
    c = make(indoor_worker)
    with pytest.raises(ExportError, match=r"\.gif"):
        c.export_history_request(tmp_path / "h.png")
    with pytest.raises(ExportError, match="folder"):
        c.export_history_request(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="is a file, not a folder"):
        c.export_history_request(tmp_path / "file" / "h.gif")
    # a state that cannot be rendered: the export reports it and the worker keeps serving renders
    c.move_centre(0, 0, 0.4, 0.4, gesture=c.new_gesture())
    c.state.undo_stack[0].spec.levels[0].pop()
    res = _export(indoor_worker, c, tmp_path / "bad.gif")
    assert res.done and "history export failed" in res.error and not (tmp_path / "bad.gif").exists()
    assert render(indoor_worker, c).image is not None
    # the folder replaced by a file after the request: a write error, reported, no half file left
    sub = tmp_path / "gone"
    sub.mkdir()
    c.state.undo_stack.clear()
    req = c.export_history_request(sub / "h.gif")
    sub.rmdir()
    sub.write_text("now a file")
    indoor_worker.poll()
    indoor_worker.start(ExportHistory(req))
    assert indoor_worker.wait_idle(60)
    done = [r for r in indoor_worker.poll() if isinstance(r, JobProgress) and r.done]
    assert done and "not a folder" in done[0].error
    # a write that fails inside Pillow (its temporary file name is taken by a folder)
    temp_name(tmp_path / "w.gif").mkdir()
    res = _export(indoor_worker, c, tmp_path / "w.gif")
    assert "cannot write" in res.error and not (tmp_path / "w.gif").exists()


def test_history_export_mp4_one_frame_per_state(tmp_path, indoor_worker: Worker) -> None:
    """The MP4 decodes back to one frame per history state, each its state's render (H.264 is lossy: close)."""
    c = make(indoor_worker)
    images = [render(indoor_worker, c).image]
    c.move_centre(0, 0, 0.3, 0.6, gesture=c.new_gesture())
    images.append(render(indoor_worker, c).image)
    c.set_enabled(0, 1, False)
    images.append(render(indoor_worker, c).image)
    res = _export(indoor_worker, c, tmp_path / "h.mp4", scale=2)
    assert res.error == "" and res.total == 3
    frames = [f.astype(np.float32) for f in read_video(tmp_path / "h.mp4")]
    assert len(frames) == 3
    r = indoor_worker.info.resolution
    assert frames[0].shape == (2 * (r + 4), 2 * r, 3)
    for k, (f, im) in enumerate(zip(frames, images)):
        expected = history_frame(im, k, 3, 2).astype(np.float32)
        psnr = 10 * np.log10(255 ** 2 / np.mean((f - expected) ** 2))
        others = [np.abs(f[: 2 * r] - history_frame(o, k, 3, 2)[: 2 * r]).mean() for o in images]
        assert psnr > 30 and int(np.argmin(others)) == k, (k, psnr, others)


def test_history_export_yields_to_interactive_renders(tmp_path, indoor_worker: Worker) -> None:
    c = make(indoor_worker)
    for k in range(12):  # twelve separate edits: a 13-frame history
        c.set_seed(k)
    indoor_worker.poll()
    indoor_worker.start(ExportHistory(c.export_history_request(tmp_path / "h.gif")))
    c.set_psi(0.5)
    indoor_worker.submit(c.render_request())  # sent while the export runs: served before it finishes
    assert indoor_worker.wait_idle(60)
    results = indoor_worker.poll()
    kinds = [type(r).__name__ for r in results]
    progress = [r for r in results if isinstance(r, JobProgress)]
    assert progress[-1].done and progress[-1].error == "" and progress[-1].total == 13
    assert [p.step for p in progress] == list(range(1, 14)) + [13]  # a step per frame, then the end
    assert kinds.index("RenderResult") < len(kinds) - 1, kinds


def test_history_frame_bar() -> None:
    im = np.zeros((8, 8, 3), np.uint8)
    f = history_frame(im, 1, 4, scale=3)
    assert f.shape == (36, 24, 3) and (f[30, :, 2] > 150).sum() == 12
    with pytest.raises(ExportError):
        history_frame(np.zeros((8, 8), np.uint8), 0, 1)


def test_editor_figures_tool_on_a_tiny_model(tmp_path, capsys) -> None:
    """tools/editor_figures.py runs end to end (search, move, removal, hybrid drag) and writes a labelled strip."""
    mod = load_script("tools/editor_figures.py")
    G, _ = tiny_models("sel_indoor", "multi")
    ck = tmp_path / "tiny.safetensors"
    save_checkpoint(ck, G)
    out = tmp_path / "strip.png"
    assert mod.main(["--checkpoint", str(ck), "--seeds", "0-1", "--steps", "2", "--drag-candidates", "1",
                     "--scale", "1", "--out", str(out)]) == 0
    with Image.open(out) as im:
        r = G.config.resolution
        assert im.height == r + mod.HEADER + 8 and im.width >= 5 * r
    text = capsys.readouterr().out
    assert "move: seed" in text and "hybrid drag, seed" in text
    assert mod.main(["--checkpoint", str(tmp_path / "missing.safetensors")]) == 2
    assert mod.main(["--seeds", "x-y"]) == 2


def test_paint_mask_strokes_undo_and_erase(indoor_worker: Worker) -> None:
    from app.ui.geometry import shade_outside

    c = make(indoor_worker)
    r = c.state.resolution
    g = c.new_gesture()
    for x in range(4, 12):  # one stroke of eight dabs is one undo step
        c.paint_mask(x, 10, 2, True, gesture=g)
    m = c.state.edit.mask
    assert m is not None and m.shape == (r, r) and m[10, 4:12].all() and not m[0, 0]
    assert len(c.state.undo_stack) == 1
    painted = int(m.sum())
    c.paint_mask(8, 10, 1, False, gesture=c.new_gesture())  # erase a little: a second undo step
    assert 0 < int(c.state.edit.mask.sum()) < painted and len(c.state.undo_stack) == 2
    c.paint_mask(8, 10, 20, False, gesture=c.new_gesture())  # erase everything: no mask, the image is free
    assert c.state.edit.mask is None
    c.undo()
    assert int(c.state.edit.mask.sum()) < painted
    with pytest.raises(ValueError):
        c.paint_mask(1, 1, 0)
    # the refine gets the mask; the view dims what it keeps fixed
    c.add_point(5, 10), c.add_point(9, 10)
    assert c.refine_input()[1].mask is c.state.edit.mask
    img = np.full((r, r, 3), 200, np.uint8)
    shaded = shade_outside(img, c.state.edit.mask)
    assert (shaded[10, 5] == 200).all() and shaded[0, 0, 0] < 120
    assert shade_outside(img, None) is img


def test_settings_folder_is_remembered_and_names_land_in_it(tmp_path, monkeypatch) -> None:
    from app.settings import Settings, config_dir

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    s = Settings.load()
    assert s.folder == tmp_path / "home" / "SpatialGAN"  # no Pictures folder
    (tmp_path / "home" / "Pictures").mkdir(parents=True)
    assert Settings.load().folder == tmp_path / "home" / "Pictures" / "SpatialGAN"
    assert s.output_path("a.png") == s.folder / "a.png"
    assert s.output_path(str(tmp_path / "x" / "b.png")) == tmp_path / "x" / "b.png"
    s.remember(tmp_path / "x" / "b.png")
    assert Settings.load().folder == tmp_path / "x"
    (config_dir() / "editor.json").write_text("[[[[ not json")  # damaged: the defaults, no error
    assert Settings.load().folder == tmp_path / "home" / "Pictures" / "SpatialGAN"
    with pytest.raises(SpatialGANError, match="file name"):
        s.output_path("  ")
    # a bare name saved into the folder is read back from it (unless the working folder has one of that name)
    monkeypatch.chdir(tmp_path)
    assert s.input_path("session.json") == s.folder / "session.json"
    (tmp_path / "session.json").write_text("{}")
    assert s.input_path("session.json") == Path("session.json")


def test_a_session_that_does_not_fit_the_model_is_refused_when_read(tmp_path: Path) -> None:
    """Every editor state checks sessions against its model's layout and w+ shape where they enter (the
    controller is made from the worker that holds the model), so a spec with 2 of 3 levels or a w+ of another
    model is refused by Load, not drawn into an error at the first render."""
    import base64
    import copy

    worker = Worker(tiny_models("sel_norm", "hierarchical")[0], torch.device("cpu"), "tiny")
    try:
        c = make(worker)
        good = json.loads(json.dumps(session_to_dict(c.state)))
        short = copy.deepcopy(good)
        short["spec"]["levels"] = short["spec"]["levels"][:2]
        other = np.zeros((1, 1, 3, 5), np.float32)
        wrong_ws = {**good, "ws_override": {"shape": [1, 1, 3, 5],
                                            "float32_base64": base64.b64encode(other.tobytes()).decode()}}
        for data, words in ((short, "levels"), (wrong_ws, "ws_override")):
            path = tmp_path / "s.json"
            path.write_text(json.dumps(data))
            with pytest.raises(SessionError, match=words):
                c.load_session(path)
        path.write_text(json.dumps(good))
        c.load_session(path)  # and the session it came from is read back
    finally:
        worker.close()
