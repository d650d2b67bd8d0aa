"""The one render path (`spatialgan.render`): drafts, taps, the stop-and-continue DragGAN uses, and that no module
outside it builds the chain by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from spatialgan import SpatialGANError, render, sample_heatmaps
from spatialgan.heatmaps.moves import move_object, moved_level
from spatialgan.render import render_until

from conftest import VARIANTS, tiny_models

ROOT = Path(__file__).resolve().parents[1]


def _inputs(encoding: str, mode: str, seed: int = 0):
    G, _ = tiny_models(encoding, mode)
    ws = G.mapping(G.sample_z(1, seed=seed))
    hb = sample_heatmaps(G.config.heatmap, 1, seed=seed) if G.config.uses_heatmaps else None
    return G, ws, hb


@pytest.mark.parametrize("encoding,mode", VARIANTS)
@torch.no_grad()
def test_render_is_the_synthesis_of_the_layouts_heatmaps(encoding: str, mode: str) -> None:
    G, ws, hb = _inputs(encoding, mode)
    out = render(G, ws, hb, taps=(8, 16))
    maps = G.heatmap_inputs(hb) if hb is not None else None
    ref = G.synthesis(ws, maps, noise_mode="const", feature_resolutions=(8, 16))
    assert torch.equal(out.image, ref.image)
    assert all(torch.equal(out.features[r], ref.features[r]) for r in (8, 16))
    assert (out.heatmaps is None) == (maps is None)


@pytest.mark.parametrize("encoding,mode", [("sel_norm", "hierarchical"), ("sel_indoor", "multi")])
@torch.no_grad()
def test_a_draft_is_the_coarse_blocks_rgb(encoding: str, mode: str) -> None:
    """A draft stops at a coarser block and returns the RGB built so far: what the full render has after that
    block, at a fraction of the cost."""
    G, ws, hb = _inputs(encoding, mode, seed=3)
    moved = move_object(hb, torch.tensor([0]), torch.tensor([[0.2, 0.0]]))
    homes = moved_level(hb).centres
    for homes_ in (None, homes):
        steps = list(G.synthesis.iter_blocks(ws, G.heatmap_inputs(moved)))
        draft = render(G, ws, moved, homes=homes_, draft=16)
        assert draft.image.shape == (1, 3, 16, 16)
        if homes_ is None:
            assert torch.equal(draft.image, steps[2][3].contiguous())
        full = render(G, ws, moved, homes=homes_).image
        small = torch.nn.functional.avg_pool2d(full, 2)
        # the coarse RGB predicts the picture's layout: closer to the full image than a different latent's draft
        other = render(G, G.mapping(G.sample_z(1, seed=9)), moved, homes=homes_, draft=16).image
        assert (draft.image - small).abs().mean() < (other - small).abs().mean()
    with pytest.raises(SpatialGANError, match="beyond the draft"):
        render(G, ws, moved, draft=8, taps=(16,))
    with pytest.raises(ValueError, match="no synthesis block"):
        render(G, ws, moved, draft=12)


@torch.no_grad()
def test_render_until_continues_to_the_full_image() -> None:
    G, ws, hb = _inputs("sel_norm", "hierarchical", seed=2)
    moved = move_object(hb, torch.tensor([0]), torch.tensor([[0.1, 0.1]]))
    homes = moved_level(hb).centres
    part = render_until(G, ws, moved, 16, homes=homes)
    full = render(G, ws, moved, homes=homes, taps=(16,))
    assert torch.allclose(part.features, full.features[16], atol=1e-6)
    assert torch.allclose(part.finish(), full.image, atol=1e-6)


def test_a_model_with_heatmaps_needs_a_layout() -> None:
    G, ws, _ = _inputs("sel_norm", "hierarchical")
    with pytest.raises(SpatialGANError, match="give it a layout"):
        render(G, ws, None)
    plain, ws_plain, _ = _inputs("none", "hierarchical")
    with pytest.raises(SpatialGANError, match="a carry needs"):
        render(plain, ws_plain, None, homes=torch.zeros(1, 1, 2))


def test_no_module_outside_the_render_path_builds_the_chain() -> None:
    """Heatmap rendering and the carry's wiring live in `spatialgan.render` (and the models' own definitions of
    their inputs); everything else asks `render` for pictures."""
    allowed = {"spatialgan/render.py", "spatialgan/carry.py", "spatialgan/generator.py", "spatialgan/research.py"}
    chain = re.compile(r"\brender_heatmaps\(|\bmake_carry\(|\bCarryHook\(|\.heatmap_inputs\(")
    offenders = []
    for folder in ("spatialgan", "draggan", "app", "tools", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in allowed or rel.startswith("spatialgan/heatmaps/"):
                continue
            offenders += [f"{rel}: {line.strip()}" for line in path.read_text().splitlines() if chain.search(line)]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("encoding", ["sel_norm", "none"])
def test_our_generator_draws_under_bfloat16_autocast(encoding: str) -> None:
    """Mapping with truncation and the render path run under CPU autocast (the mean w stays float32, the mapped w
    is bfloat16), and the picture stays near the float32 one."""
    G = tiny_models(encoding)[0]
    spec = G.default_layout(0)
    layout = spec.to_batch() if spec is not None else None
    with torch.no_grad():
        ref = render(G, G.seed_ws(0, 0.7), layout).image
        with torch.autocast("cpu", dtype=torch.bfloat16):
            image = render(G, G.seed_ws(0, 0.7), layout).image
    assert torch.isfinite(image).all()
    assert float((image.float() - ref).abs().mean()) < 0.05 * float(ref.abs().mean()) + 1e-3
