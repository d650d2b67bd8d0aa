"""Carrying an object's look along a heatmap move (`spatialgan.carry`): the blend, its hook into synthesis, the homes
of the edit, the DragGAN session and the editor's switch; and on the bundled model, that moved content follows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.controller import Controller
from app.messages import RenderResult
from app.worker import Worker
from draggan import DragConfig, DragSession
from spatialgan import HeatmapSpec, SpatialGANError, load_checkpoint, render, sample_heatmaps
from spatialgan.carry import Carry, CarryHook, carry_blend, carry_resolution, home_batch, homes_tensor, make_carry
from spatialgan.heatmaps.moves import move_object, moved_level
from spatialgan.metrics.comove import co_move_ratio

from conftest import tiny_models

ROOT = Path(__file__).resolve().parents[1]


def _carry(centres, shifts, sigmas, weights=None, window: float = 2.0) -> Carry:
    """One part per object."""
    c = torch.tensor(centres, dtype=torch.float32)
    w = torch.ones(c.shape[:2]) if weights is None else torch.tensor(weights, dtype=torch.float32)
    return Carry({}, torch.tensor(shifts, dtype=torch.float32), w, c, torch.tensor(sigmas, dtype=torch.float32),
                 torch.arange(c.shape[1]), w, window=window)


def test_blend_moves_home_content_into_the_window_and_keeps_the_rest() -> None:
    r = 16
    home = torch.zeros(1, 1, r, r)
    home[0, 0, 4, 4] = 1.0  # a feature at pixel (x=4, y=4): centre (4.5 / 16, 4.5 / 16)
    now = torch.full((1, 1, r, r), 0.25)
    shift = 6 / r  # six pixels to the right: an exact pixel shift, so bilinear sampling copies
    out = carry_blend(now, home, _carry([[[10.5 / r, 4.5 / r]]], [[[shift, 0.0]]], [[1.0]], window=10.0))
    assert out[0, 0, 4, 10] == pytest.approx(1.0, abs=1e-4), "the feature arrives at its moved place"
    assert out[0, 0, 4, 4] < 0.01, "and is not left behind (a wide window takes home content everywhere)"
    narrow = carry_blend(now, home, _carry([[[10.5 / r, 4.5 / r]]], [[[shift, 0.0]]], [[0.02]]))
    assert narrow[0, 0, 15, 0] == pytest.approx(0.25), "far outside the window the current features stay"
    assert narrow[0, 0, 4, 10] > 0.9


def test_no_window_for_objects_at_home_or_removed() -> None:
    now, home = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    at_home = _carry([[[0.5, 0.5]], [[0.3, 0.3]]], [[[0.0, 0.0]], [[0.0, 0.0]]], [[0.2], [0.2]])
    assert torch.equal(carry_blend(now, home, at_home), now)
    removed = _carry([[[0.5, 0.5]], [[0.3, 0.3]]], [[[0.1, 0.0]], [[0.1, 0.0]]], [[0.2], [0.2]], [[0.0], [0.0]])
    assert torch.equal(carry_blend(now, home, removed), now)


def test_a_hierarchical_object_window_covers_its_sub_tree() -> None:
    """The root's window alone would miss a part far from it; the object's window is the max over its parts."""
    G, _ = tiny_models("sel_norm", "hierarchical")
    hb = sample_heatmaps(G.config.heatmap, 1, seed=5)
    moved = move_object(hb, torch.tensor([0]), torch.tensor([[0.05, 0.0]]))
    carry = make_carry(G.heatmap_inputs, moved, hb.levels[0].centres, 16, window=0.5)
    assert carry.centres.shape[1] == 7 and carry.owners.tolist() == [0] * 7
    window = carry_blend(torch.zeros(1, 1, 32, 32), torch.ones(1, 1, 32, 32), carry)[0, 0]
    for c in carry.centres[0]:  # every part's own centre lies well inside the window
        x, y = (c.clamp(0, 0.999) * 32).long().tolist()
        assert window[y, x] > 0.5
    root_only = Carry(carry.home_maps, carry.shifts, carry.weights, carry.centres[:, :1], carry.sigmas[:, :1],
                      carry.owners[:1], carry.part_weights[:, :1], window=0.5)
    assert carry_blend(torch.zeros(1, 1, 32, 32), torch.ones(1, 1, 32, 32), root_only).sum() < window.sum()


def test_overlapping_windows_never_add_past_one() -> None:
    now, home = torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8)
    two = _carry([[[0.5, 0.5], [0.5, 0.5]]], [[[0.1, 0.0], [0.0, 0.1]]], [[0.3, 0.3]])
    out = carry_blend(now, home, two)
    assert float(out.max()) <= 1.0 + 1e-6 and float(out.max()) > 0.99


@pytest.mark.parametrize("encoding,mode", [("sel_norm", "hierarchical"), ("sel_indoor", "multi")])
def test_carry_with_every_object_at_home_is_the_plain_render(encoding: str, mode: str) -> None:
    G, _ = tiny_models(encoding, mode)
    hb = sample_heatmaps(G.config.heatmap, 2, seed=1)
    ws = G.mapping(G.sample_z(2, seed=1))
    with torch.no_grad():
        plain = G.synthesis(ws, G.heatmap_inputs(hb)).image
        carried = render(G, ws, hb, homes=moved_level(hb).centres).image
    assert torch.allclose(plain, carried, atol=1e-5)


@pytest.mark.parametrize("encoding,mode", [("sel_norm", "hierarchical"), ("sel_indoor", "multi")])
def test_a_carried_move_differs_from_the_plain_one_only_through_the_carry_block(encoding: str, mode: str) -> None:
    G, _ = tiny_models(encoding, mode)
    hb = sample_heatmaps(G.config.heatmap, 1, seed=2)
    index = torch.tensor([0])
    moved = move_object(hb, index, torch.tensor([[0.2, 0.1]]))
    ws = G.mapping(G.sample_z(1, seed=2))
    carry = make_carry(G.heatmap_inputs, moved, moved_level(hb).centres, 8)
    k = G.config.block_resolutions.index(8)
    with torch.no_grad():
        plain = list(G.synthesis.iter_blocks(ws, G.heatmap_inputs(moved)))
        carried = list(G.synthesis.iter_blocks(ws, G.heatmap_inputs(moved), hook=CarryHook(carry, k)))
        taps = render(G, ws, moved, homes=moved_level(hb).centres, carry_at=8, taps=(4, 8)).features
    assert carried[k - 1][2].shape[0] == 2, "before the blend the batch also holds the home layout"
    assert [x.shape for _, _, x, _ in carried[k:]] == [x.shape for _, _, x, _ in plain[k:]], "after it, one batch"
    assert torch.allclose(carried[k - 1][2][:1], plain[k - 1][2], atol=1e-6), "before the blend: the current layout"
    assert not torch.allclose(carried[k][2], plain[k][2], atol=1e-3), "the blend brings in the home features"
    assert taps[4].shape[0] == 1 and torch.allclose(taps[4], plain[k - 1][2], atol=1e-6), "render taps one batch"
    assert torch.allclose(taps[8], carried[k][2], atol=1e-6)


def test_home_batch_takes_the_sub_tree_along() -> None:
    G, _ = tiny_models("sel_norm", "hierarchical")
    hb = sample_heatmaps(G.config.heatmap, 1, seed=3)
    moved = move_object(hb, torch.tensor([0]), torch.tensor([[0.1, -0.05]]))
    back = home_batch(moved, moved_level(hb).centres)
    for a, b in zip(back.levels, hb.levels):
        assert torch.allclose(a.centres, b.centres, atol=1e-6)
    G3, _ = tiny_models("sel_indoor", "multi")
    mb = sample_heatmaps(G3.config.heatmap, 1, seed=3)
    moved = move_object(mb, torch.tensor([1]), torch.tensor([[0.1, 0.1]]))
    assert torch.allclose(home_batch(moved, mb.levels[0].centres).levels[0].centres, mb.levels[0].centres)
    with pytest.raises(Exception, match="one place per object"):
        home_batch(moved, torch.zeros(1, 5, 2))


def test_carry_resolution_falls_back_to_a_block_the_model_has() -> None:
    assert carry_resolution([4, 8, 16, 32, 64]) == 16
    assert carry_resolution([4, 8], 16) == 8
    assert carry_resolution([8, 16], 4) == 8


def test_homes_belong_to_the_edit_not_the_spec() -> None:
    """A spec carries no homes (specs saved with them still load); `homes_tensor` checks them and skips the carry
    while every object is at home, unless asked to keep it (an optimiser about to move the centres)."""
    G, _ = tiny_models("sel_indoor", "multi")
    spec = HeatmapSpec.from_batch(sample_heatmaps(G.config.heatmap, 1, seed=0))
    homes = spec.object_places()
    assert "home" not in spec.to_json()
    assert homes_tensor(spec, homes, "cpu") is None
    assert homes_tensor(spec, homes, "cpu", always=True).shape == (1, 3, 2)
    spec.move_by(0, 1, 0.1, 0.0)
    assert torch.allclose(homes_tensor(spec, homes, "cpu")[0], torch.tensor(homes))
    assert homes_tensor(spec, None, "cpu") is None
    with pytest.raises(SpatialGANError, match="one home per object"):
        homes_tensor(spec, homes[:2], "cpu")
    with pytest.raises(SpatialGANError, match="home 1"):
        homes_tensor(spec, [homes[0], (float("nan"), 0.0), homes[2]], "cpu")
    data = json.loads(spec.to_json())
    data["levels"][0][0]["home"] = [0.5, 0.5]  # written by earlier versions
    assert HeatmapSpec.from_dict(data).to_dict() == spec.to_dict()


def test_joint_refine_optimises_centres_through_the_carry() -> None:
    """A joint refine's centre step differentiates through the carry's window and warp, and the session's
    result keeps the objects' homes (where the refine started them)."""
    G, _ = tiny_models("sel_norm", "hierarchical")
    spec = HeatmapSpec.from_batch(sample_heatmaps(G.config.heatmap, 1, seed=0))
    ws = G.mapping(G.sample_z(1, seed=0)).detach()
    s = DragSession(G, ws, spec, [(10.0, 12.0)], [(20.0, 12.0)], config=DragConfig(mode="joint", max_steps=4))
    assert s.home is not None and torch.equal(s.home, torch.tensor([spec.object_places()]))
    start = [c.detach().clone() for c in s.centres]
    s.run()
    assert not torch.equal(s.centres[0], start[0]), "the centres moved"
    out = s.spec()
    assert out is not None and out.object_places() != spec.object_places()
    assert torch.equal(s.home, torch.tensor([spec.object_places()])), "the homes stay where the refine began"
    plain = DragSession(G, ws, spec, [(10.0, 12.0)], [(20.0, 12.0)],
                        config=DragConfig(mode="joint", max_steps=4, carry_resolution=None))
    assert plain.home is None


def _render(worker: Worker, c: Controller) -> np.ndarray:
    worker.submit(c.render_request())
    assert worker.wait_idle()
    results = [r for r in worker.poll() if isinstance(r, RenderResult)]
    assert results and not results[-1].error, results[-1].error if results else "no result"
    assert results[-1].image is not None
    return results[-1].image


def test_editor_switch_renders_carried_or_plain_and_is_saved(tmp_path) -> None:
    G, _ = tiny_models("sel_indoor", "multi")
    worker = Worker(G, torch.device("cpu"), "tiny")
    try:
        c = Controller.for_worker(worker, 3, 0.7, "tiny.safetensors")
        c.autosave_path = None  # type: ignore[assignment]
        assert c.state.edit.spec is not None and c.state.edit.homes == c.state.edit.spec.object_places()
        before = _render(worker, c)
        c.set_carry(False)
        assert np.array_equal(_render(worker, c), before), "at home, carried and plain are the same picture"
        c.move_centre(0, 0, 0.8, 0.2, gesture=c.new_gesture())
        plain = _render(worker, c)
        c.set_carry(True)
        carried = _render(worker, c)
        assert not np.array_equal(plain, carried)
        assert c.undo() and not c.state.edit.carry, "the switch is one undo step"
        c.redo()
        path = c.save_session(tmp_path / "s.json")
        data = json.loads(path.read_text())
        assert data["carry"] is True and data["homes"] == [list(h) for h in c.state.edit.homes]
        d = Controller.for_worker(worker, 5, 0.7, "tiny.safetensors")
        d.autosave_path = None  # type: ignore[assignment]
        d.load_session(path)
        assert np.array_equal(_render(worker, d), carried)
        # A session of the previous version kept each object's home in its spec: it loads with them.
        homes = data.pop("homes")
        for o, h in zip(data["spec"]["levels"][0], homes):
            o["home"] = h
        previous = tmp_path / "previous.json"
        previous.write_text(json.dumps(data))
        d.load_session(previous)
        assert d.state.edit.homes == [tuple(h) for h in homes]
        assert np.array_equal(_render(worker, d), carried)
        # A session from before homes: objects keep the look they have when it is loaded.
        del data["carry"]
        for o in data["spec"]["levels"][0]:
            del o["home"]
        old = tmp_path / "old.json"
        old.write_text(json.dumps(data))
        d.load_session(old)
        assert d.state.edit.carry and d.state.edit.spec is not None
        assert d.state.edit.homes == d.state.edit.spec.object_places()
    finally:
        worker.close()


@pytest.mark.parametrize("name", ["pets64", "rooms64"])
def test_bundled_model_content_follows_a_carried_move(name: str) -> None:
    """The point of the carry, on the real model: on the co-move measure's first 32 moves, the patch under a moved
    centre follows it much further than when the model redraws it (bench/results/carry.md has 300 moves)."""
    G = load_checkpoint(ROOT / "checkpoints" / f"{name}.safetensors", torch.device("cpu")).generator.eval()
    plain = co_move_ratio(G, None, 32, progress=False)
    carried = co_move_ratio(G, None, 32, progress=False, carry=16)
    assert carried.ratio > plain.ratio + 0.3 and carried.median > 0.8, (plain.ratio, carried.ratio, carried.median)


def test_renderer_takes_homes() -> None:
    """The editor's renderer (eager off CUDA) carries from the homes it is given, at the default block."""
    from spatialgan.graphed import GraphedRenderer

    G, _ = tiny_models("sel_indoor", "multi")
    hb = sample_heatmaps(G.config.heatmap, 1, seed=4)
    moved = move_object(hb, torch.tensor([2]), torch.tensor([[-0.2, 0.1]]))
    ws = G.mapping(G.sample_z(1, seed=4))
    renderer = GraphedRenderer(G)
    assert renderer.carry_resolution == 16
    with torch.no_grad():
        expect = render(G, ws, moved, homes=hb.levels[0].centres, carry_at=16).image
    image, _ = renderer(ws, moved, hb.levels[0].centres)
    assert torch.allclose(image, expect, atol=1e-6)
    assert not torch.allclose(renderer(ws, moved)[0], expect, atol=1e-3)


def test_carry_reuses_its_part_table() -> None:
    """A CUDA graph capture may not copy from the host: the part -> object table is made once per heatmap structure
    (in the renders before a capture) and reused, not rebuilt from Python lists on every call."""
    G, _ = tiny_models("sel_norm", "hierarchical")
    hb = sample_heatmaps(G.config.heatmap, 1, seed=6)
    first = make_carry(G.heatmap_inputs, hb, hb.levels[0].centres, 16)
    again = make_carry(G.heatmap_inputs, move_object(hb, torch.tensor([0]), torch.tensor([[0.1, 0.0]])),
                       hb.levels[0].centres, 16)
    assert first.owners is again.owners


def test_part_table_made_in_inference_mode_serves_a_refine() -> None:
    """The editor renders under inference_mode before a refine differentiates through the same cached table."""
    from spatialgan.carry import _owners

    _owners.cache_clear()
    G, _ = tiny_models("sel_indoor", "multi")
    hb = sample_heatmaps(G.config.heatmap, 1, seed=7)
    with torch.inference_mode():
        make_carry(G.heatmap_inputs, hb, hb.levels[0].centres, 16)
    centres = hb.levels[0].centres.clone().requires_grad_(True)
    moved = move_object(hb, torch.tensor([0]), torch.tensor([[0.1, 0.0]]))
    moved.levels[0].centres = moved.levels[0].centres + 0 * centres  # tracked by autograd
    carry = make_carry(G.heatmap_inputs, moved, hb.levels[0].centres, 16)
    out = carry_blend(torch.zeros(1, 1, 16, 16), torch.ones(1, 1, 16, 16), carry)
    out.sum().backward()
    assert centres.grad is not None
