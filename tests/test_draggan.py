"""DragGAN engine: tracking, motion supervision, the coarse move (Eq. 6), sessions, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import tiny_models
from draggan import DragConfig, DragError, DragSession, coarse_move, motion_loss, track_points
from draggan.cli import main as edit_main
from draggan.motion import sample_features
from spatialgan import HeatmapSpec, sample_heatmaps


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
    ([(3.0, 3.0)], [(math.nan, 3.0)], "outside"),
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
