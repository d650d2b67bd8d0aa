"""The one render path draws the four bundled models exactly as the render chain it replaced did.

`tests/data/render_reference.npz` holds images the earlier chain (heatmaps -> carry -> synthesis, spelled out in
each caller) made for seeds 1 and 5 of each bundled model, plainly and with object 0 moved by (0.15, 0.1) and
carried from its home, and three DragGAN refines (a joint, a hybrid and a plain DragGAN one) step by step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from draggan import DragConfig, DragSession
from spatialgan import HeatmapSpec, load_generator, render, sample_heatmaps
from spatialgan.fused import fuse

ROOT = Path(__file__).resolve().parents[1]
REF = np.load(Path(__file__).with_name("data") / "render_reference.npz")
MODELS = ("rooms64", "pets64", "rooms128", "pets128")


def _model(name: str):
    G, _ = load_generator(str(ROOT / "checkpoints" / f"{name}.safetensors"), None, "cpu")
    return G.eval()


@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
@pytest.mark.parametrize("name", MODELS)
def test_bundled_models_render_as_before(name: str, fused: bool) -> None:
    G = fuse(_model(name)) if fused else _model(name)
    with torch.inference_mode():
        for seed in (1, 5):
            ws = G.mapping(G.sample_z(1, seed=seed), psi=0.7)
            spec = HeatmapSpec.from_batch(sample_heatmaps(G.config.heatmap, 1, seed=seed))
            homes = torch.tensor([spec.object_places()])
            plain = render(G, ws, spec.to_batch()).image[0].numpy()
            moved = HeatmapSpec.from_json(bytes(REF[f"{name}/{seed}/spec_moved"]).decode())
            assert moved.absolute(0, 0) != spec.absolute(0, 0)
            carried = render(G, ws, moved.to_batch(), homes=homes).image[0].numpy()
            redrawn = render(G, ws, moved.to_batch()).image[0].numpy()
            np.testing.assert_allclose(plain, REF[f"{name}/{seed}/plain"], atol=1e-4, rtol=0)
            np.testing.assert_allclose(carried, REF[f"{name}/{seed}/carried"], atol=1e-4, rtol=0)
            # the carry must matter here, or the carried reference checks nothing the plain one does not
            assert np.abs(carried - redrawn).max() > 0.05


@pytest.mark.parametrize("name,mode,seed", [("pets64", "joint", 2), ("rooms64", "hybrid", 3),
                                            ("rooms64", "draggan", 4)])
def test_draggan_refine_follows_the_same_trajectory(name: str, mode: str, seed: int) -> None:
    G = fuse(_model(name))  # as the editor and the edit command run it
    key = f"drag/{name}/{mode}"
    with torch.no_grad():
        ws = G.mapping(G.sample_z(1, seed=seed), psi=0.7)
    spec = HeatmapSpec.from_batch(sample_heatmaps(G.config.heatmap, 1, seed=seed))
    handle, target = (tuple(map(float, p)) for p in REF[f"{key}/handles"])
    session = DragSession(G, ws, spec, [handle], [target], config=DragConfig(mode=mode, max_steps=8))
    points, losses = [], []
    while True:
        r = session.step()
        points.append(r.points[0])
        losses.append(r.loss)
        if r.done:
            break
    assert len(points) == len(REF[f"{key}/points"]) > 2
    np.testing.assert_allclose(np.array(points, np.float32), REF[f"{key}/points"], atol=1e-3)
    np.testing.assert_allclose(np.array(losses, np.float32), REF[f"{key}/losses"], rtol=1e-3, equal_nan=True)
    np.testing.assert_allclose(session.ws().numpy()[:, :, :6], REF[f"{key}/ws"], atol=1e-4)
    np.testing.assert_allclose(session.render()[0].numpy(), REF[f"{key}/image"], atol=1e-3)
