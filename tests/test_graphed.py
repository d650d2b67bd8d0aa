"""GraphedRenderer: the editor's render as CUDA graph replays must equal the eager render, follow new inputs,
and never hand out tensors a later replay overwrites. The CUDA tests run where a GPU is (the device script
bench/gpu_checks.sh runs them); on CPU the renderer is the eager code, checked here too."""

from __future__ import annotations

import pytest
import torch

from spatialgan import sample_heatmaps
from spatialgan.graphed import GraphedRenderer
from spatialgan.render import render

from conftest import VARIANTS, tiny_models

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _eager(G, ws, hb):
    with torch.inference_mode():
        heat = G.heatmap_inputs(hb) if hb is not None else None
        return G.synthesis(ws, heat, noise_mode="const").image, heat


def _inputs(G, batch: int, seed: int, device: str):
    with torch.inference_mode():
        ws = G.mapping(G.sample_z(batch, seed=seed, device=device))
    hb = sample_heatmaps(G.config.heatmap, batch, seed=seed).to(device) if G.config.uses_heatmaps else None
    return ws, hb


@pytest.mark.parametrize("encoding,mode", VARIANTS)
def test_cpu_renderer_is_the_eager_render(encoding: str, mode: str) -> None:
    G, _ = tiny_models(encoding, mode)
    renderer = GraphedRenderer(G)
    ws, hb = _inputs(G, 1, 3, "cpu")
    image, heat = renderer(ws, hb)
    ref, ref_heat = _eager(G, ws, hb)
    assert not renderer.enabled and renderer.captures == 0
    assert torch.equal(image, ref)
    assert (heat is None) == (ref_heat is None)
    if heat is not None:
        assert all(torch.equal(heat[r], ref_heat[r]) for r in ref_heat)


@cuda
@pytest.mark.parametrize("encoding,mode", VARIANTS)
def test_cuda_replay_matches_eager_and_follows_inputs(encoding: str, mode: str) -> None:
    G, _ = tiny_models(encoding, mode)
    G = G.cuda()
    renderer = GraphedRenderer(G)
    assert renderer.enabled
    ws0, hb0 = _inputs(G, 1, 0, "cuda")
    ws1, hb1 = _inputs(G, 1, 1, "cuda")
    first, _ = renderer(ws0, hb0)
    second, heat1 = renderer(ws1, hb1)  # same shapes: replayed, with the new ws and centres copied in
    assert renderer.captures == 1
    ref0, _ = _eager(G, ws0, hb0)
    ref1, ref_heat1 = _eager(G, ws1, hb1)
    assert not torch.allclose(ref0, ref1, atol=1e-3)  # the two inputs give different images
    torch.testing.assert_close(first, ref0, atol=1e-4, rtol=1e-4)  # not overwritten by the second replay
    torch.testing.assert_close(second, ref1, atol=1e-4, rtol=1e-4)
    if ref_heat1 is not None:
        for r in ref_heat1:
            torch.testing.assert_close(heat1[r], ref_heat1[r])


@cuda
def test_cuda_new_shape_or_weights_capture_again() -> None:
    G, _ = tiny_models("sel_norm", "hierarchical")
    G = G.cuda()
    renderer = GraphedRenderer(G)
    ws, hb = _inputs(G, 1, 0, "cuda")
    renderer(ws, hb)
    ws2, hb2 = _inputs(G, 2, 0, "cuda")  # batch 2: a different shape gets its own graph
    image2, _ = renderer(ws2, hb2)
    assert renderer.captures == 2
    torch.testing.assert_close(image2, _eager(G, ws2, hb2)[0], atol=1e-4, rtol=1e-4)
    with torch.no_grad():  # an in-place weight edit (as an optimizer step makes) must not replay stale weights
        G.synthesis.blocks[-1].torgb.conv.weight.mul_(1.5)
    image, _ = renderer(ws, hb)
    assert renderer.captures == 3
    torch.testing.assert_close(image, _eager(G, ws, hb)[0], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("encoding,mode", VARIANTS)
def test_rendering_leaves_the_weights_key_alone(encoding: str, mode: str) -> None:
    """A render (or a truncated mapping) must not bump any parameter or buffer, else every replay would
    capture again; an in-place weight edit must change the key."""
    G, _ = tiny_models(encoding, mode)
    renderer = GraphedRenderer(G)
    key = renderer._weights_key()
    ws, hb = _inputs(G, 1, 3, "cpu")
    with torch.inference_mode():
        G.mapping(G.sample_z(1, seed=4), psi=0.7)
    renderer(ws, hb)
    assert renderer._weights_key() == key
    with torch.no_grad():
        G.synthesis.blocks[0].torgb.conv.weight.mul_(1.5)
    assert renderer._weights_key() != key


@cuda
@pytest.mark.parametrize("encoding,mode", [("sel_norm", "hierarchical"), ("sel_indoor", "multi")])
def test_cuda_replay_carries_from_homes(encoding: str, mode: str) -> None:
    """A carried render (`spatialgan.carry`) is captured as its own graph, matches the eager carried render and
    follows new homes; the plain render keeps working beside it."""
    from spatialgan.heatmaps.moves import move_object, moved_level

    G, _ = tiny_models(encoding, mode)
    G = G.cuda()
    renderer = GraphedRenderer(G)
    ws, hb = _inputs(G, 1, 2, "cuda")
    moved = move_object(hb, torch.tensor([0], device="cuda"), torch.tensor([[0.2, 0.1]], device="cuda"))
    home = moved_level(hb).centres.clone()
    renderer(ws, moved)
    for shift in (0.0, 0.05):  # the second call replays with new homes copied in
        h = home + shift
        image, _ = renderer(ws, moved, h)
        with torch.inference_mode():
            ref = render(G, ws, moved, homes=h).image
        torch.testing.assert_close(image, ref, atol=1e-4, rtol=1e-4)
    assert renderer.enabled and renderer.captures == 2
