"""DragGAN engine: tracking, motion supervision, the coarse move (Eq. 6), sessions, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from conftest import tiny_models
from draggan import DragConfig, DragError, DragSession, coarse_move, motion_loss, track_points
from draggan.cli import main as edit_main
from draggan.motion import sample_features
from spatialgan.errors import SpatialGANError
from spatialgan import HeatmapSpec, sample_heatmaps
from spatialgan.render import render


def test_tracking_recovers_a_known_shift() -> None:
    feat = torch.randn(1, 16, 40, 40)
    points = torch.tensor([[12.0, 15.0], [30.0, 8.0]])
    f = sample_features(feat, points)
    for dx, dy in [(3, 0), (-2, 4), (5, -5)]:
        moved = torch.roll(feat, shifts=(dy, dx), dims=(2, 3))
        tracked = track_points(moved, f, points, r2=6)
        assert tracked.tolist() == (points + torch.tensor([dx, dy], dtype=torch.float32)).tolist()


def test_tracking_stays_inside_the_image() -> None:
    feat = torch.randn(1, 4, 10, 10)
    out = track_points(feat, torch.randn(1, 4), torch.tensor([[0.0, 9.0]]), r2=5)
    assert 0 <= out[0, 0] <= 9 and 0 <= out[0, 1] <= 9


def test_a_coarse_map_reads_as_the_map_upsampled_to_the_image() -> None:
    """Tracking and sampling on the tap's own grid give what DragGAN's upsampled map gives at image pixels."""
    torch.manual_seed(0)
    coarse = torch.randn(1, 8, 16, 16)
    fine = torch.nn.functional.interpolate(coarse, size=(64, 64), mode="bilinear", align_corners=False)
    pixels = torch.tensor([[0.0, 0.0], [63.0, 63.0], [17.0, 40.0], [5.0, 62.0]])
    torch.testing.assert_close(sample_features(coarse, pixels, 64), fine[0, :, pixels[:, 1].long(),
                                                                        pixels[:, 0].long()].t())
    between = torch.tensor([[0.3, 0.0], [62.5, 63.0], [17.25, 40.8], [63.0, 0.5]])  # DragGAN's q + d
    torch.testing.assert_close(sample_features(coarse, between, 64), sample_features(fine, between))
    wanted = sample_features(fine, torch.tensor([[30.0, 33.0], [2.0, 60.0]]))
    start = torch.tensor([[26.0, 30.0], [5.0, 58.0]])
    assert track_points(coarse, wanted, start, 6, 64).tolist() == track_points(fine, wanted, start, 6).tolist()
    assert track_points(coarse, wanted, start, 6, 64).tolist() == [[30.0, 33.0], [2.0, 60.0]]


def _blob(centre: torch.Tensor, size: int = 32) -> torch.Tensor:
    """A 'generator' whose only feature is a Gaussian blob at a learnable centre (pixels)."""
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    g = torch.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * 4.0**2))
    return torch.stack([g, g * (xx / size), g * (yy / size)])[None]


@pytest.mark.parametrize("target", [(24.0, 16.0), (16.0, 5.0), (6.0, 27.0)])
def test_motion_loss_moves_the_feature_towards_the_target(target: tuple[float, float]) -> None:
    centre = torch.tensor([16.0, 16.0], requires_grad=True)
    opt = torch.optim.SGD([centre], lr=2.0)
    handle, goal = torch.tensor([[16.0, 16.0]]), torch.tensor([target])
    for _ in range(5):
        opt.zero_grad()
        motion_loss(_blob(centre), handle, goal, r1=3).backward()
        opt.step()
    moved = centre.detach() - torch.tensor([16.0, 16.0])
    wanted = goal[0] - handle[0]
    assert torch.dot(moved, wanted) / wanted.norm() > 0.3, f"moved {moved.tolist()} for {wanted.tolist()}"


def test_mask_term_only_penalises_outside_the_flexible_area() -> None:
    feat0 = torch.zeros(1, 2, 8, 8)
    feat = feat0.clone()
    feat[..., :4, :] = 1.0  # changes in the top half
    mask = torch.zeros(8, 8)
    mask[:4] = 1  # ... which is flexible
    far = torch.tensor([[6.0, 6.0]])
    base = motion_loss(feat, far, far + 1, 1)
    assert motion_loss(feat, far, far + 1, 1, feat0, mask).item() == pytest.approx(base.item())
    assert motion_loss(feat, far, far + 1, 1, feat0, 1 - mask).item() > base.item() + 1


def test_coarse_move_follows_eq6_and_carries_children() -> None:
    spec = HeatmapSpec.from_batch(sample_heatmaps(tiny_models("sel_norm")[0].config.heatmap, 1, seed=1))
    res = 32
    x0, y0 = spec.absolute(0, 0)
    handle = (x0 * res, y0 * res)
    target = (handle[0] + 8, handle[1] - 4)
    before = [[spec.absolute(li, ci) for ci in range(len(lv))] for li, lv in enumerate(spec.levels)]
    moved, priors = coarse_move(spec, [handle], [target], res, radius=1e-3, alpha=0.5)
    # Only the root was within the radius; all its descendants follow by exactly alpha * (t - p).
    for li, lv in enumerate(spec.levels):
        for ci in range(len(lv)):
            x, y = moved.absolute(li, ci)
            assert (x - before[li][ci][0], y - before[li][ci][1]) == pytest.approx((0.5 * 8 / res, -0.5 * 4 / res))
    assert priors == [pytest.approx((handle[0] + 4, handle[1] - 2))]
    untouched, same = coarse_move(spec, [(0.0, 0.0)], [(5.0, 5.0)], res, radius=1e-3, alpha=1.0)
    assert same == [(0.0, 0.0)] and untouched.to_dict() == spec.to_dict()


def test_hybrid_finds_the_handle_again_after_the_coarse_move(monkeypatch: pytest.MonkeyPatch) -> None:
    """Content that does not follow the coarse move is found where it stayed, not assumed at Eq. 6's guess: here
    the image ignores the moved centres, so the handle's feature is still exactly at the handle."""
    G, _ = tiny_models("sel_norm")
    spec = HeatmapSpec.from_batch(sample_heatmaps(G.config.heatmap, 1, seed=0))
    ws = G.mapping(G.sample_z(1, seed=0)).detach()
    original = spec.to_batch()
    real = DragSession._layout

    def unmoved(self, centres=None):  # the image as if the coarse move had changed nothing
        return original if centres is None else real(self, centres)

    monkeypatch.setattr(DragSession, "_layout", unmoved)
    handle, target = (12.0, 14.0), (20.0, 14.0)
    found = DragSession(G, ws, spec, [handle], [target], config=DragConfig(mode="hybrid", hybrid_radius=2.0))
    assert found.points.tolist() == [list(handle)]
    guessed = DragSession(G, ws, spec, [handle], [target],
                          config=DragConfig(mode="hybrid", hybrid_radius=2.0, relocate=False))
    assert guessed.points.tolist() == [list(target)], "without relocate, tracking starts at the guess"


def _session(mode: str = "joint", encoding: str = "sel_norm", **cfg) -> DragSession:
    G, _ = tiny_models(encoding, "multi" if encoding == "sel_indoor" else "hierarchical")
    spec = HeatmapSpec.from_batch(sample_heatmaps(G.config.heatmap, 1, seed=0)) if G.config.uses_heatmaps else None
    ws = G.mapping(G.sample_z(1, seed=0)).detach()
    return DragSession(G, ws, spec, [(10.0, 12.0)], [(20.0, 12.0)], config=DragConfig(mode=mode, **cfg))


@pytest.mark.parametrize("mode,encoding", [("draggan", "none"), ("draggan", "sel_norm"), ("joint", "sel_indoor"),
                                           ("hybrid", "sel_norm")])
def test_session_steps_update_what_the_mode_says(mode: str, encoding: str) -> None:
    s = _session(mode, encoding, max_steps=4)
    w0 = s.w_free.detach().clone()
    c0 = [c.detach().clone() for c in s.centres]
    phases = [s.step().phase for _ in range(4)]
    assert not torch.equal(s.w_free, w0), "w is optimised in every mode"
    if mode == "draggan":
        assert set(phases) <= {"w", "none"}
        assert all(torch.equal(a, b) for a, b in zip(s.centres, c0))
    else:
        assert phases[:2] == ["w", "centres"], "joint optimisation alternates w and centres"
        assert any(not torch.equal(a, b) for a, b in zip(s.centres, c0))
    # Layers after the first k stay at w0.
    assert torch.equal(s.ws()[:, :, s.k:], s.ws0[:, :, s.k:])


def test_the_w_latent_moves_every_layer_by_one_shared_offset() -> None:
    """latent="w": one vector for all layers (w itself, since w0 is one w repeated), not w+'s first layers."""
    s = _session("draggan", "sel_norm", max_steps=3, latent="w")
    for _ in range(3):
        s.step()
    delta = s.ws() - s.ws0
    assert delta.abs().max() > 0 and s.w_free.shape[2] == 1
    assert torch.allclose(delta, delta[:, :, :1].expand_as(delta))  # the same change on every layer
    ws = s.ws()
    assert torch.allclose(ws, ws[:, :, :1].expand_as(ws), atol=1e-6)  # still one w repeated
    with pytest.raises(SpatialGANError, match="latent"):
        DragConfig(latent="z")


def test_cancel_stops_within_one_step() -> None:
    s = _session(max_steps=50)
    seen = []

    def cb(r) -> None:
        seen.append(r.step)
        if r.step == 2:
            s.cancel()

    s.callback = cb
    result = s.run()
    assert seen == [1, 2] and s.step_count == 2 and result.step == 2
    assert s.step().step == 2, "a cancelled session does no more work"


def test_stops_at_max_steps_and_when_arrived() -> None:
    s = _session(max_steps=3)
    assert s.run().step == 3
    s = _session(max_steps=50, stop_distance=100.0)  # everything counts as arrived
    r = s.step()
    assert r.done and r.phase == "none" and s.step_count == 0


def test_nan_keeps_the_last_good_state() -> None:
    s = _session(max_steps=10)
    s.step()
    good = s.w_free.detach().clone()
    with torch.no_grad():
        s.w_free.fill_(float("nan"))
    r = s.step()
    assert r.done and "NaN" in r.error
    assert torch.equal(s.w_free, good)


@pytest.mark.parametrize("handles,targets,fragment", [
    ([], [], "no handle points"),
    ([(1.0, 1.0)], [], "every handle needs one target"),
    ([(40.0, 1.0)], [(5.0, 5.0)], "outside the 32x32 image"),
    ([(3.0, 3.0)], [(3.0, 3.0)], "already at its target"),
    ([(3.0, 3.0)], [(math.nan, 3.0)], "must be two numbers"),
])
def test_bad_points(handles, targets, fragment) -> None:
    G, _ = tiny_models("sel_norm")
    spec = HeatmapSpec.from_batch(sample_heatmaps(G.config.heatmap, 1, seed=0))
    with pytest.raises(DragError, match=fragment):
        DragSession(G, G.mapping(G.sample_z(1, seed=0)), spec, handles, targets)


def test_joint_needs_heatmaps_and_mask_shape() -> None:
    G, _ = tiny_models("none")
    with pytest.raises(DragError, match="use mode 'draggan'"):
        DragSession(G, G.mapping(G.sample_z(1, seed=0)), None, [(1.0, 1.0)], [(5.0, 5.0)], config=DragConfig(mode="joint"))
    with pytest.raises(DragError, match="mask must be 32x32"):
        DragSession(G, G.mapping(G.sample_z(1, seed=0)), None, [(1.0, 1.0)], [(5.0, 5.0)],
                    mask=torch.ones(8, 8), config=DragConfig(mode="draggan"))


def test_edit_cli(tmp_path, capsys) -> None:
    from spatialgan import save_checkpoint

    G, _ = tiny_models("sel_indoor", "multi")
    ck = save_checkpoint(tmp_path / "m.safetensors", G)
    out = tmp_path / "edit"
    assert edit_main(["-c", str(ck), "--drag", "10,12:18,12", "--max-steps", "3", "--out", str(out)]) == 0
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] <= 3 and len(summary["final_distances_px"]) == 1
    assert {p.name for p in out.iterdir()} >= {"before.png", "after.png", "spec.json", "ws.safetensors"}
    assert edit_main(["-c", str(ck), "--drag", "10,12-18,12"]) == 2
    assert "--drag expects" in capsys.readouterr().err
    assert edit_main(["-c", str(ck), "--drag", "3,3:3,3", "--out", str(out)]) == 2
    assert "already at its target" in capsys.readouterr().err


@pytest.mark.parametrize("points", [False, True])
def test_edit_cli_video_has_one_frame_per_step(tmp_path, points: bool) -> None:
    """--video: the start and the picture after each optimisation step, decoded back and matched to the renders
    (the last frame is after.png); with --video-points the markers are drawn on top."""
    import json

    import numpy as np
    from PIL import Image

    from spatialgan import load_checkpoint
    from spatialgan.paths import default_checkpoint
    from spatialgan.video import read_video, video_scale

    ck = default_checkpoint()  # a trained model: its handle really travels (a random one's tracking jumps)
    G = load_checkpoint(ck).generator
    out, video = tmp_path / "edit", tmp_path / "edit.mp4"
    argv = ["-c", str(ck), "--seed", "3", "--drag", "20,30:36,30", "--max-steps", "6", "--out", str(out),
            "--video", str(video)]
    assert edit_main(argv + (["--video-points"] if points else [])) == 0
    steps = json.loads((out / "summary.json").read_text())["steps"]
    frames = read_video(video)
    assert len(frames) == steps + 1
    scale = video_scale(G.capabilities.resolution)
    res = G.capabilities.resolution
    assert frames[0].shape == (res * scale, res * scale, 3)
    small = [f.reshape(res, scale, res, scale, 3).astype(np.float32).mean((1, 3)) for f in frames]
    before = np.asarray(Image.open(out / "before.png")).astype(np.float32)
    after = np.asarray(Image.open(out / "after.png")).astype(np.float32)
    first, last = np.abs(small[0] - before).mean(), np.abs(small[-1] - after).mean()
    if points:  # the markers cover a few pixels around the handle and target
        red = (frames[0][..., 0] > 200) & (frames[0][..., 1] < 80) & (frames[0][..., 2] < 80)
        ys, xs = np.nonzero(red)
        assert red.any() and abs(xs.mean() / scale - 20.5) < 1.5 and abs(ys.mean() / scale - 30.5) < 1.5
    else:
        assert first < 2.0 and last < 2.0, (first, last)
        assert np.abs(small[-1] - before).mean() > last  # the video ends on the edit, not the start


def test_radii_scale_with_the_resolution() -> None:
    cfg = DragConfig()  # DragGAN's r1 = 3, r2 = 12 are for 512 px
    assert (cfg.radius1(512), cfg.radius2(512)) == (3, 12)
    assert (cfg.radius1(1024), cfg.radius2(1024)) == (6, 24)
    assert (cfg.radius1(256), cfg.radius2(256)) == (2, 6)
    assert (cfg.radius1(128), cfg.radius2(128)) == (1, 3)
    assert (cfg.radius1(32), cfg.radius2(32)) == (1, 2), "never below one pixel of motion, two of search"
    s = _session(max_steps=1)
    assert (s.r1, s.r2) == (cfg.radius1(32), cfg.radius2(32))


def test_callback_sees_every_step_and_the_final_result() -> None:
    s = _session(max_steps=4)
    seen = []
    s.callback = seen.append
    final = s.run()
    assert [r.step for r in seen] == [1, 2, 3, 4, 4], "one call per update, then the result that stops"
    assert [r.phase for r in seen] == ["w", "centres", "w", "centres", "none"]
    assert seen[-1] is final and final.done and not any(r.done for r in seen[:-1])


def test_step_images_are_the_state_the_step_started_from() -> None:
    s = _session("hybrid", max_steps=3)
    G = s.G
    first = s.step()
    final = s.run()
    spec = s.spec()
    assert spec is not None
    assert s.home is not None  # the objects carry their look from where the session started them
    with torch.no_grad():
        now = render(G, s.ws(), spec.to_batch(), homes=s.home)
    assert torch.allclose(final.image, now.image, atol=1e-5), "the last step did not update: its image is the result"
    assert torch.allclose(s.render(), now.image, atol=1e-5)
    assert not torch.allclose(first.image, final.image), "images change while w and the centres are optimised"


def test_multiple_handles_are_tracked_and_driven_together() -> None:
    G, _ = tiny_models("sel_norm")
    spec = HeatmapSpec.from_batch(sample_heatmaps(G.config.heatmap, 1, seed=0))
    handles, targets = [(8.0, 8.0), (24.0, 20.0), (16.0, 28.0)], [(14.0, 8.0), (20.0, 14.0), (16.0, 22.0)]
    s = DragSession(G, G.mapping(G.sample_z(1, seed=0)).detach(), spec, handles, targets,
                    config=DragConfig(mode="joint", max_steps=3))
    r = s.run()
    assert len(r.points) == len(r.distances) == 3 and s.stop == 1.0
    assert r.distances == pytest.approx([math.dist(p, t) for p, t in zip(r.points, targets)])
    # Each handle's motion term pulls on w: dropping one handle changes the gradient.
    feat = s._forward(s._ws(), s._fixed_layout())[1]
    grads = []
    for n in (3, 2):
        loss = motion_loss(feat, s.points[:n], s.targets[:n], s.r1, size=s.res)
        grads.append(torch.autograd.grad(loss, s.w_free, retain_graph=True)[0])
    assert not torch.allclose(grads[0], grads[1])
    many = DragSession(G, G.mapping(G.sample_z(1, seed=0)).detach(), spec, [(float(i), 1.0) for i in range(6)],
                       [(float(i), 9.0) for i in range(6)], config=DragConfig(mode="draggan"))
    assert many.stop == 2.0, "DragGAN stops at 2 px with more than five handles"


PETS = Path(__file__).resolve().parents[1] / "checkpoints" / "pets128.safetensors"


@pytest.mark.skipif(not PETS.exists(), reason="the bundled pets128 checkpoint is not in this checkout")
def test_drag_on_the_shipped_model_moves_the_object() -> None:
    """On the trained single-object model a 30 px hybrid drag of the object's root moves what was under the
    handle towards the target, judged by `find_handles` (a global search for the handle's feature, not the
    session's tracking, which the hybrid mode starts at the target). Not every image moves: on seed 5 the coarse
    move reshapes the pet in place, so this checks four seeds and their mean."""
    from spatialgan import load_checkpoint

    G = load_checkpoint(PETS, "cpu").generator
    before, after = [], []
    for seed in range(4):
        spec = HeatmapSpec.from_batch(sample_heatmaps(G.config.heatmap, 1, seed=seed))
        ws = G.mapping(G.sample_z(1, seed=seed), psi=0.7).detach()
        x, y = spec.absolute(0, 0)
        handle = (x * 128, y * 128)
        target = (handle[0] + 30 if handle[0] < 64 else handle[0] - 30, handle[1])
        s = DragSession(G, ws, spec, [handle], [target], config=DragConfig(mode="hybrid", max_steps=1))
        before.append(math.dist(handle, target))
        r = s.run()
        assert r.step <= 1 and not r.error
        after.append(math.dist(s.find_handles()[0], target))
    assert all(a < b for a, b in zip(after, before)), (before, after)
    assert sum(after) < 0.7 * sum(before), (before, after)


def test_edit_cli_bad_input_and_continuing_a_saved_edit(tmp_path, capsys) -> None:
    from safetensors.torch import save_file

    from spatialgan import save_checkpoint

    G, _ = tiny_models("sel_norm")
    ck = str(save_checkpoint(tmp_path / "m.safetensors", G))
    plain = str(save_checkpoint(tmp_path / "plain.safetensors", tiny_models("none")[0]))
    bad = tmp_path / "bad.safetensors"
    bad.write_text("not a tensor file")
    wrong = tmp_path / "wrong.safetensors"
    save_file({"ws": torch.zeros(1, 1, 3, 32)}, str(wrong))
    cases = [
        (["-c", ck], "at least one --drag"),
        (["-c", ck, "--drag", "10,12:50,12"], "outside the 32x32 image"),
        (["-c", ck, "--drag", "a,b:c,d"], "--drag expects"),
        (["-c", plain, "--drag", "10,12:18,12", "--mode", "joint"], "use mode 'draggan'"),
        (["-c", ck, "--drag", "10,12:18,12", "--max-steps", "0"], "argument --max-steps: 0 is outside"),
        (["-c", ck, "--drag", "10,12:18,12", "--psi", "nan"], "argument --psi: nan is outside"),
        (["-c", ck, "--drag", "nan,12:18,12"], "must be finite"),
        (["-c", ck, "--drag", "10,12:18,12", "--video", str(tmp_path / "v.avi")], ".mp4 or .gif"),
        (["-c", ck, "--drag", "10,12:18,12", "--heatmap", str(tmp_path / "none.json")], "does not exist"),
        (["-c", ck, "--drag", "10,12:18,12", "--ws", str(bad)], "cannot read w+"),
        (["-c", ck, "--drag", "10,12:18,12", "--ws", str(wrong)], "this model needs"),
    ]
    for argv, fragment in cases:
        try:
            code = edit_main(argv + ["--out", str(tmp_path / "never")])
        except SystemExit as exc:  # argparse refuses a value with its usage line and exit code 2
            code = exc.code
        assert code == 2, argv
        err = capsys.readouterr().err
        assert "error: " in err and fragment in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "never").exists(), "bad input writes nothing"
    # A finished edit's spec.json, homes.json and ws.safetensors start the next edit where it ended.
    first, second = tmp_path / "first", tmp_path / "second"
    assert edit_main(["-c", ck, "--drag", "10,12:18,12", "--max-steps", "2", "--out", str(first)]) == 0
    assert edit_main(["-c", ck, "--drag", "18,12:18,20", "--max-steps", "1", "--heatmap", str(first / "spec.json"),
                      "--homes", str(first / "homes.json"), "--ws", str(first / "ws.safetensors"),
                      "--out", str(second)]) == 0
    import numpy as np
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(first / "after.png")), np.asarray(Image.open(second / "before.png")))


def test_the_readme_video_command_makes_an_mp4_of_the_refine(tmp_path, monkeypatch) -> None:
    """The README's `spatialgan-edit ... --video` example, run as written: an MP4 with one frame per step."""
    import json
    import shlex
    from pathlib import Path

    from spatialgan.video import read_video

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = next(line for line in readme.splitlines() if line.startswith("spatialgan-edit") and "--video" in line)
    argv = shlex.split(line)[1:]
    monkeypatch.chdir(tmp_path)  # its relative paths land here
    assert edit_main(argv) == 0
    out = Path(argv[argv.index("--out") + 1])
    video = Path(argv[argv.index("--video") + 1])
    steps = json.loads((out / "summary.json").read_text())["steps"]
    frames = read_video(video)
    assert video.suffix == ".mp4" and len(frames) == steps + 1 >= 10
    assert frames[0].shape[0] >= 256  # upscaled to be watchable
