"""Importing EqGAN-SA generators (hierarchical heatmaps into every conv through SEL): the same weights, heatmaps
and latents give what EqGAN-SA's own code computes, its layout convention maps onto our heatmap spec, a seed draws
the layout its code draws, and the editor's machinery (render path, carry, DragGAN joint refine) works on it.

`tests/data/eqgan_sa_reference.npz` holds two small random EqGAN-SA networks (32 px with z_dim != w_dim, float16
layers and a conv clamp; 64 px), weights perturbed and, for the 32 px one, G differing from G_ema, and what
genforce/eqgan-sa's code (run apart from this project, on the CPU in float32) computed: heatmaps of an explicit
layout and of the layouts it draws after `torch.manual_seed(3)` and `(42)`, ws, and images with constant and no
noise. The test writes the weights into a network pickle with our own writer and imports it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from draggan import DragConfig, DragSession
from spatialgan import HeatmapSpec, render
from spatialgan.importers import EqGANSA, import_pickle, load_imported, save_imported

from netpickle_writer import reference_network, reference_pickle, write_network_pickle

REF = np.load(Path(__file__).with_name("data") / "eqgan_sa_reference.npz")
META = json.loads(bytes(REF["__meta__"]).decode())
KEYS = sorted(META)


def _pickle(tmp_path: Path, key: str) -> Path:
    return reference_pickle(REF, META, key, tmp_path / f"{key}.pkl")


def _layout(G: EqGANSA, key: str):
    p = {k: torch.from_numpy(REF[f"{key}/layout/{k}"]) for k in ("centers", "l2_delta", "l3_delta", "cur_sigma2",
                                                                  "cur_sigma3")}
    return G.layout_from_grid(p["centers"], float(REF[f"{key}/layout/sigma"]), p["l2_delta"], p["l3_delta"],
                              p["cur_sigma2"], p["cur_sigma3"])


def _ref_maps(key: str, prefix: str = "maps") -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(REF[f"{key}/{prefix}/{k}"]) for k in ("b8", "b16", "b32")}


@pytest.mark.parametrize("key", KEYS)
def test_eqgan_matches_upstream(tmp_path: Path, key: str) -> None:
    G = import_pickle(_pickle(tmp_path, key))
    assert isinstance(G, EqGANSA) and G.num_ws == META[key]["num_ws"]
    z = torch.from_numpy(REF[f"{key}/z"])
    ours = G.heatmap_inputs(_layout(G, key))
    for level, name in ((8, "b8"), (16, "b16"), (32, "b32")):
        np.testing.assert_allclose(ours[level].numpy(), REF[f"{key}/maps/{name}"], atol=1e-5, rtol=0)
    with torch.no_grad():
        for tag, psi in (("psi1", 1.0), ("trunc", 0.7)):
            ws = G.mapping(z, None, truncation_psi=psi)
            np.testing.assert_allclose(ws.numpy(), REF[f"{key}/ws_{tag}"], atol=1e-5, rtol=0)
            for noise in ("const", "none"):
                img = G.synthesis(torch.from_numpy(REF[f"{key}/ws_{tag}"]), _ref_maps(key), noise_mode=noise)
                np.testing.assert_allclose(img.numpy(), REF[f"{key}/img_{tag}_{noise}"], atol=1e-3, rtol=0)
                maps, ws_all = _ref_maps(key), torch.from_numpy(REF[f"{key}/ws_{tag}"])
                for i in range(ws_all.shape[0]):  # one picture at a time: the CPU's channels-last path
                    one = G.synthesis(ws_all[i: i + 1], {k: m[i: i + 1] for k, m in maps.items()}, noise_mode=noise)
                    np.testing.assert_allclose(one[0].numpy(), REF[f"{key}/img_{tag}_{noise}"][i], atol=1e-3, rtol=0)
        # through the render path with our own layout: the same picture
        out = render(G, torch.from_numpy(REF[f"{key}/ws_psi1"])[:, None], _layout(G, key))
        np.testing.assert_allclose(out.image.numpy(), REF[f"{key}/img_psi1_const"], atol=1e-3, rtol=0)
        if f"{key}/img_G_psi1_const" in REF.files:  # G_ema was taken, not G
            assert np.abs(out.image.numpy() - REF[f"{key}/img_G_psi1_const"]).max() > 1e-2


@pytest.mark.parametrize("seed", [3, 42])
def test_a_seed_draws_the_layout_eqgan_draws(tmp_path: Path, seed: int) -> None:
    G = import_pickle(_pickle(tmp_path, "eq32"))
    maps = G.heatmap_inputs(G.default_layout(seed).to_batch())
    for level, name in ((8, "b8"), (16, "b16"), (32, "b32")):
        np.testing.assert_allclose(maps[level].numpy(), REF[f"eq32/seed{seed}/{name}"], atol=1e-5, rtol=0)


def test_eqgan_in_the_editor_machinery(tmp_path: Path) -> None:
    """Panels per level, a centre moved moves the picture there, a removal leaves the 0.01 floor, the carry and a
    joint DragGAN refine through the centres work, and the model survives our format."""
    G = import_pickle(_pickle(tmp_path, "eq64"))
    caps = G.capabilities
    assert caps.layout == "hierarchical" and [(p.level, p.resolution, p.centres) for p in caps.panels] == \
        [(0, 8, 1), (1, 16, 2), (2, 32, 4)]
    spec = G.default_layout(5)
    G.check_layout(spec)
    with pytest.raises(Exception, match="1/2/4"):
        G.check_layout(HeatmapSpec.from_dict({"mode": "multi", "levels": [[{"x": .5, "y": .5, "sigma": .1}]]}))
    ws = G.seed_ws(5, psi=0.7)
    with torch.no_grad():
        before = render(G, ws, spec.to_batch()).image
        moved = spec.copy()
        moved.move_by(0, 0, 0.25, 0.0)
        after = render(G, ws, moved.to_batch()).image
        carried = render(G, ws, moved.to_batch(), homes=torch.tensor([spec.object_places()])).image
        removed = spec.copy()
        removed.set_enabled(0, 0, False)
        floor = G.heatmap_inputs(removed.to_batch())
    assert (after - before).abs().mean() > 1e-3 and not torch.allclose(after, carried, atol=1e-4)
    assert all(torch.allclose(m, torch.full_like(m, 0.01)) for m in floor.values())
    s = DragSession(G, ws, spec, [(20.0, 30.0)], [(28.0, 30.0)], config=DragConfig(mode="joint", max_steps=4))
    s.run()
    assert s.spec().object_places() != spec.object_places() or s.spec().levels[1] != spec.levels[1]
    path = save_imported(tmp_path / "eq.safetensors", G)
    again = load_imported(path)[0]
    assert isinstance(again, EqGANSA)
    with torch.no_grad():
        assert torch.equal(render(again, ws, spec.to_batch()).image, before)


def test_plain_torch_layers_in_the_pickle_are_read_as_data(tmp_path: Path) -> None:
    """EqGAN-SA's SEL holds plain torch.nn layers, which pickle.dump writes as the torch classes themselves (the
    reader before this test refused them by name). Protocols 2 to 4 (2 stores bytes through _codecs)."""
    path = _pickle(tmp_path, "eq32")
    raw = path.read_bytes()
    for name in (b"torch.nn.modules.instancenorm", b"InstanceNorm2d", b"torch.nn.modules.container", b"LeakyReLU"):
        assert name in raw, name
    ref = import_pickle(path)
    nets = {"G_ema": reference_network(REF, META, "eq32", "G_ema")}
    z = torch.from_numpy(REF["eq32/z"])
    for protocol in (2, 3):
        other = write_network_pickle(tmp_path / f"p{protocol}.pkl", nets, protocol=protocol)
        G = import_pickle(other)
        with torch.no_grad():
            assert torch.equal(G.mapping(z, None), ref.mapping(z, None))
            assert torch.equal(G.synthesis.b8.conv0.sel.output[1].weight, ref.synthesis.b8.conv0.sel.output[1].weight)


@pytest.mark.parametrize("module,name", [
    ("torch.nn.modules.conv", "Conv2d"),  # a real layer, but no network pickle holds one: refused by name
    ("torch.nn.modules.module", "Module"),
    ("torch.optim.sgd", "SGD"),
])
def test_other_torch_classes_stay_refused(tmp_path: Path, module: str, name: str) -> None:
    from spatialgan.importers import NetworkPickleError

    path = tmp_path / "other.pkl"
    m, n = module.encode(), name.encode()
    body = b"}\x94\x8c\x05G_ema\x94\x8c" + bytes([len(m)]) + m + b"\x94\x8c" + bytes([len(n)]) + n + b"\x94\x93\x94s."
    path.write_bytes(b"\x80\x04\x95" + len(body).to_bytes(8, "little") + body)
    with pytest.raises(NetworkPickleError, match=f"{module}.{name}"):
        import_pickle(path)


def test_protocol_0_object_rebuilding_stays_refused(tmp_path: Path) -> None:
    """Protocols 0 and 1 rebuild objects through copyreg._reconstructor, which no network pickle of the last
    decade uses; it is refused by name rather than trusted."""
    from spatialgan.importers import NetworkPickleError

    path = tmp_path / "reconstructor.pkl"
    # {'G_ema': copyreg._reconstructor(builtins.set, builtins.object, None)}
    path.write_bytes(b"(dp0\nVG_ema\np1\nccopy_reg\n_reconstructor\np2\n(c__builtin__\nset\np3\nc__builtin__\n"
                     b"object\np4\nNtp5\nRp6\ns.")
    with pytest.raises(NetworkPickleError, match="copyreg._reconstructor"):
        import_pickle(path)
