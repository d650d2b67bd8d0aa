"""Importing StyleGAN3 generators (configs T and R): the same weights and latents give what NVIDIA's stylegan3 code
computes.

`tests/data/stylegan3_reference.npz` holds two small random networks, a StyleGAN3-T at 16 px (3x3 convs, separable
filters, z_dim != w_dim) and a conditional StyleGAN3-R at 32 px (1x1 convs, radial filters, a 4x upsampling layer
and negative padding), weights and tracked magnitudes perturbed, G differing from G_ema, and a rotation and shift
in the input's user transform; and what stylegan3 (run apart from this project, on the CPU in float32, with its
reference ops) computed: ws with and without truncation and the images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from draggan import DragConfig, DragSession
from spatialgan import render
from spatialgan.importers import StyleGAN3, import_pickle, load_imported, save_imported

from netpickle_writer import reference_pickle

REF = np.load(Path(__file__).with_name("data") / "stylegan3_reference.npz")
META = json.loads(bytes(REF["__meta__"]).decode())


def _pickle(tmp_path: Path, key: str) -> Path:
    return reference_pickle(REF, META, key, tmp_path / f"{key}.pkl")


@pytest.mark.parametrize("key", sorted(META))
def test_stylegan3_matches_upstream(tmp_path: Path, key: str) -> None:
    G = import_pickle(_pickle(tmp_path, key))
    assert isinstance(G, StyleGAN3) and G.num_ws == META[key]["num_ws"]
    layers = [(name, layer.up, layer.down, list(layer.padding)) for name, layer in
              ((n, getattr(G.synthesis, n)) for n in G.synthesis.layer_names)]
    assert layers == [tuple(row) for row in META[key]["layers"]]
    z, c = torch.from_numpy(REF[f"{key}/z"]), torch.from_numpy(REF[f"{key}/c"])
    with torch.no_grad():
        for tag, (psi, cut) in {"psi1": (1.0, None), "trunc": (0.7, 3)}.items():
            ws = G.mapping(z, c if G.c_dim else None, truncation_psi=psi, truncation_cutoff=cut)
            np.testing.assert_allclose(ws.numpy(), REF[f"{key}/ws_{tag}"], atol=1e-5, rtol=0)
            img = G.synthesis(torch.from_numpy(REF[f"{key}/ws_{tag}"]))
            np.testing.assert_allclose(img.numpy(), REF[f"{key}/img_{tag}"], atol=1e-3, rtol=0)
        assert np.abs(G(z, c if G.c_dim else None).numpy() - REF[f"{key}/img_G_psi1"]).max() > 1e-2  # G_ema, not G


def test_stylegan3_in_the_render_path_and_draggan(tmp_path: Path) -> None:
    G = import_pickle(_pickle(tmp_path, "r32c"))
    caps = G.capabilities
    assert caps.description.startswith("StyleGAN3-R 32 px") and caps.draft_resolutions == () and caps.class_labels
    ws = G.seed_ws(1, psi=0.8, label=2)
    with torch.no_grad():
        out = render(G, ws, None, taps=(caps.default_tap,))
        torch.testing.assert_close(out.image, G.synthesis(ws[:, 0]), rtol=0, atol=1e-6)
    s = DragSession(G, ws, None, [(10.0, 12.0)], [(16.0, 12.0)], config=DragConfig(mode="draggan", max_steps=3))
    s.run()
    assert not torch.equal(s.ws(), ws)
    path = save_imported(tmp_path / "r.safetensors", G)
    again = load_imported(path)[0]
    with torch.no_grad():
        assert torch.equal(again.synthesis(ws[:, 0]), G.synthesis(ws[:, 0]))
