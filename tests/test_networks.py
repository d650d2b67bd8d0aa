"""Generator and discriminator: shapes for every variant, heatmap steering, latents and style codes."""

from __future__ import annotations

import pytest
import torch

from conftest import VARIANTS, tiny_configs, tiny_models
from spatialgan import Generator, replace_code, resample_code, sample_heatmaps
from spatialgan.errors import ConfigError
from spatialgan.fused import fuse
from spatialgan.research import Variant, build


def _render(G: Generator, batch: int, seed: int = 0):
    if not G.config.uses_heatmaps:
        return None, None
    hb = sample_heatmaps(G.config.heatmap, batch, seed=seed)
    return hb, G.heatmap_inputs(hb)


@pytest.mark.parametrize("encoding,mode", VARIANTS)
@pytest.mark.parametrize("resolution", [32, 64])
def test_shapes_every_variant(encoding: str, mode: str, resolution: int) -> None:
    G, D = tiny_models(encoding, mode, resolution)
    cfg = G.config
    _, hm = _render(G, 3)
    ws = G.mapping(G.sample_z(3, seed=0))
    assert ws.shape == (3, cfg.num_codes, cfg.num_ws, cfg.w_dim)
    out = G.synthesis(ws, hm, feature_resolutions=[8, resolution // 2])
    assert out.image.shape == (3, 3, resolution, resolution)
    assert torch.isfinite(out.image).all()
    assert out.features[8].shape == (3, cfg.channels(8), 8, 8)
    assert out.features[resolution // 2].shape[-2:] == (resolution // 2, resolution // 2)
    d_out = D(out.image, feature_resolutions=[4, 8, 16])
    assert d_out.logits.shape == (3,)
    assert {r: tuple(f.shape[-2:]) for r, f in d_out.features.items()} == {4: (4, 4), 8: (8, 8), 16: (16, 16)}


def test_num_codes_and_heatmap_resolutions() -> None:
    G, _ = tiny_models("sel_indoor", "multi", 64)
    assert G.config.num_codes == 4
    assert G.heatmap_resolutions == [4, 8, 16, 32, 64]  # one shared heatmap for every synthesis layer
    G, _ = tiny_models("sel_norm", "hierarchical", 64)
    assert G.heatmap_resolutions == [4, 8, 16]
    G, _ = tiny_models("none", "hierarchical", 64)
    assert G.heatmap_resolutions == []


@pytest.mark.parametrize("encoding,mode", [v for v in VARIANTS if v[0] != "none"])
def test_moving_a_centre_changes_heatmap_and_output(encoding: str, mode: str) -> None:
    G, _ = tiny_models(encoding, mode)
    hb, hm = _render(G, 1, seed=3)
    ws = G.mapping(G.sample_z(1, seed=5))
    with torch.no_grad():
        before = G.synthesis(ws, hm, noise_mode="const").image
        again = G.synthesis(ws, G.heatmap_inputs(hb), noise_mode="const").image
        hb.levels[0].centres[0, 0] += torch.tensor([0.25, 0.0])  # a quarter of the image to the right
        hm_moved = G.heatmap_inputs(hb)
        after = G.synthesis(ws, hm_moved, noise_mode="const").image
    assert torch.equal(before, again), "same inputs must give the same image (const noise)"
    r = G.heatmap_resolutions[0]
    assert (hm_moved[r] - hm[r]).abs().max() > 0.05
    assert (after - before).abs().mean() > 1e-3, "a random network's output must depend on the heatmap"


def test_plain_stylegan2_needs_no_heatmap_and_rejects_bad_inputs() -> None:
    G, _ = tiny_models("none")
    assert G(G.sample_z(2, seed=0)).image.shape == (2, 3, 32, 32)
    Gs, _ = tiny_models("sel_norm")
    with pytest.raises(ValueError, match="needs heatmaps"):
        Gs(Gs.sample_z(1, seed=0))
    with pytest.raises(ValueError, match="z must have shape"):
        Gs.mapping(torch.randn(1, 7))
    _, hm = _render(Gs, 2)
    with pytest.raises(ValueError, match="heatmap at resolution 4"):
        Gs(Gs.sample_z(1, seed=0), hm)  # batch 2 heatmaps for batch 1 latents
    with pytest.raises(ValueError, match="no synthesis block"):
        Gs(Gs.sample_z(2, seed=0), hm, feature_resolutions=[12])


def test_truncation_psi_zero_gives_mean_w() -> None:
    G, _ = tiny_models("sel_norm")
    G.mapping_net.w_avg.normal_()
    ws = G.mapping(G.sample_z(4, seed=0), psi=0.0)
    assert torch.allclose(ws, G.mapping_net.w_avg.expand_as(ws))
    half = G.mapping(G.sample_z(4, seed=0), psi=0.5)
    full = G.mapping(G.sample_z(4, seed=0), psi=1.0)
    assert torch.allclose(half, (full + G.mapping_net.w_avg) / 2, atol=1e-6)


def test_w_avg_tracks_mapping_output() -> None:
    G, _ = tiny_models("sel_norm")
    z = G.sample_z(64, seed=0)
    for _ in range(2000):
        G.mapping(z, update_w_avg=True)
    assert torch.allclose(G.mapping_net.w_avg, G.mapping_net(z).mean((0, 1)), atol=1e-4)


def test_resampling_one_object_code_keeps_the_others() -> None:
    G, _ = tiny_models("sel_indoor", "multi")
    hb, hm = _render(G, 1, seed=2)
    ws = G.mapping(G.sample_z(1, seed=1))
    new = resample_code(G, ws, index=1, seed=99)
    assert not torch.equal(new[:, 1], ws[:, 1])
    for k in (0, 2, 3):
        assert torch.equal(new[:, k], ws[:, k])
    with torch.no_grad():
        base = G.synthesis(ws, hm).image
        restyled = G.synthesis(new, hm).image
        assert (restyled - base).abs().mean() > 1e-4, "object 1's code must change the image"
        # With object 1's sub-heatmap switched off (weight 0), its code has no influence at all (Eq. 3).
        hb.levels[0].weights[0, 1] = 0.0
        hm_off = G.heatmap_inputs(hb)
        assert torch.equal(G.synthesis(ws, hm_off).image, G.synthesis(new, hm_off).image)
    assert torch.equal(replace_code(ws, 0, ws[:, 0]), ws)
    with pytest.raises(IndexError):
        replace_code(ws, 4, ws[:, 0])


def test_noise_modes() -> None:
    G, _ = tiny_models("sel_norm")
    for layer in G.modules():
        if hasattr(layer, "strength"):
            layer.strength.data.fill_(0.5)
    _, hm = _render(G, 1)
    ws = G.mapping(G.sample_z(1, seed=0))
    with torch.no_grad():
        c1, c2 = (G.synthesis(ws, hm, noise_mode="const").image for _ in range(2))
        r1, r2 = (G.synthesis(ws, hm, noise_mode="random").image for _ in range(2))
    assert torch.equal(c1, c2)
    assert not torch.equal(r1, r2)


def test_training_step_updates_generator() -> None:
    """One G step through the non-saturating loss changes the weights and keeps them finite."""
    from spatialgan import g_nonsaturating

    G, D = tiny_models("sel_norm")
    G.train()
    opt = torch.optim.Adam(G.parameters(), lr=1e-3)
    _, hm = _render(G, 4)
    before = [p.detach().clone() for p in G.parameters()]
    loss = g_nonsaturating(D(G(G.sample_z(4, seed=0), hm).image).logits)
    loss.backward()
    opt.step()
    changed = sum(not torch.equal(a, b) for a, b in zip(before, G.parameters()))
    assert changed > len(before) // 2
    assert all(torch.isfinite(p).all() for p in G.parameters())


@pytest.mark.parametrize("resolution", [128, 1024])
def test_large_resolutions(resolution: int) -> None:
    """Any power of two up to 1024 builds and runs (narrow channels keep this fast)."""
    from spatialgan import Discriminator, DiscriminatorConfig, GeneratorConfig, HeatmapConfig

    g = GeneratorConfig(resolution=resolution, z_dim=16, w_dim=16, mapping_layers=1, channel_base=4 * resolution,
                        channel_max=16, encoding="sel_norm", heatmap=HeatmapConfig(), sel_hidden=8,
                        heatmap_features=4)
    G = Generator(g).eval()
    D = Discriminator(DiscriminatorConfig(resolution=resolution, channel_base=4 * resolution, channel_max=16))
    with torch.no_grad():
        img = G(G.sample_z(1, seed=0), G.heatmap_inputs(sample_heatmaps(g.heatmap, 1, seed=0))).image
        assert img.shape == (1, 3, resolution, resolution) and torch.isfinite(img).all()
        assert D(img).logits.shape == (1,)


def test_too_few_channels_is_a_config_error() -> None:
    from spatialgan import ConfigError, GeneratorConfig

    with pytest.raises(ConfigError, match="channel_base"):
        GeneratorConfig(resolution=1024, channel_base=512)


# --- the inference fusion pass (spatialgan.fused: folded gains, quadratic-form demodulation) ---

def _randomised(encoding: str, mode: str, resolution: int = 32) -> Generator:
    """A tiny generator whose biases, noise strengths and SEL gains are non-zero, so that every folded
    constant of the fused copy matters."""
    G, _ = tiny_models(encoding, mode, resolution, seed=1)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("bias") or name.endswith("strength"):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    for m in G.modules():
        if hasattr(m, "gain"):
            m.gain = 0.7
    return G


def _inputs(G: Generator, batch: int, seed: int = 3):
    ws = G.mapping(G.sample_z(batch, seed=seed), psi=0.8)
    hb, hm = _render(G, batch, seed)
    return ws, hb, hm


@pytest.mark.parametrize("encoding,mode", VARIANTS)
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("noise_mode", ["const", "random", "none"])
def test_fused_copy_matches_the_reference(encoding: str, mode: str, batch: int, noise_mode: str) -> None:
    G = _randomised(encoding, mode)
    fused = fuse(G)
    assert fused is not G and fuse(fused) is fused
    ws, _, hm = _inputs(G, batch)
    with torch.inference_mode():
        torch.manual_seed(5)
        fast = fused.synthesis(ws, hm, noise_mode=noise_mode, feature_resolutions=[8, 32])
        torch.manual_seed(5)  # the same random noise maps, drawn in the same order
        ref = G.synthesis(ws, hm, noise_mode=noise_mode, feature_resolutions=[8, 32])
    assert ref.image.abs().max() > 0.1  # a degenerate (all-zero) image would make the comparison vacuous
    torch.testing.assert_close(fast.image, ref.image, rtol=1e-5, atol=1e-5)  # float32 rounding
    for r in (8, 32):
        torch.testing.assert_close(fast.features[r], ref.features[r], rtol=1e-5, atol=1e-5)
    assert torch.equal(fused.mapping(G.sample_z(2, seed=1)), G.mapping(G.sample_z(2, seed=1)))


@pytest.mark.parametrize("encoding,mode", VARIANTS)
@pytest.mark.parametrize("batch", [1, 2])
def test_fused_gradients_to_ws_and_centres(encoding: str, mode: str, batch: int) -> None:
    """DragGAN's case: frozen generator weights, gradients to ws and heatmap centres through the fused copy."""
    G = _randomised(encoding, mode).requires_grad_(False)
    fused = fuse(G)
    ws0, hb, _ = _inputs(G, batch)
    probe = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(4))

    def grads(model: Generator) -> list[torch.Tensor]:
        ws = ws0.detach().clone().requires_grad_(True)
        leaves = [ws]
        hm = None
        if hb is not None:
            centres = [lv.centres.detach().clone().requires_grad_(True) for lv in hb.levels]
            for lv, c in zip(hb.levels, centres):
                lv.centres = c
            leaves += centres
            hm = model.heatmap_inputs(hb)
        (model.synthesis(ws, hm).image * probe).sum().backward()
        return [t.grad for t in leaves]

    for f, r in zip(grads(fused), grads(G)):
        assert r is not None and r.abs().max() > 0
        torch.testing.assert_close(f, r, rtol=1e-4, atol=1e-5 * r.abs().max().item())
    assert not any(p.requires_grad for p in fused.parameters())


@pytest.mark.parametrize("encoding,mode", VARIANTS)
def test_training_differentiates_every_weight(encoding: str, mode: str) -> None:
    G = _randomised(encoding, mode).train()
    ws, _, hm = _inputs(G, 2)
    G.synthesis(ws.detach(), hm).image.square().mean().backward()
    assert all(p.grad is not None for p in G.synthesis.parameters() if p.requires_grad)


@pytest.mark.parametrize("encoding,mode", [("sel_norm", "hierarchical"), ("sel_indoor", "multi")])
def test_a_fused_copy_is_a_snapshot(encoding: str, mode: str) -> None:
    """After the original's weights change, the old fused copy draws the old picture and a new fuse the new one."""
    G = _randomised(encoding, mode)
    ws, _, hm = _inputs(G, 1)
    old = fuse(G)
    with torch.inference_mode():
        before = old.synthesis(ws, hm).image
    opt = torch.optim.SGD(G.parameters(), lr=0.05)
    G.synthesis(ws, hm).image.square().mean().backward()
    opt.step()
    with torch.inference_mode():
        after = G.synthesis(ws, hm).image
        assert (after - before).abs().max() > 1e-3
        torch.testing.assert_close(old.synthesis(ws, hm).image, before, rtol=0, atol=0)
        torch.testing.assert_close(fuse(G).synthesis(ws, hm).image, after, rtol=1e-5, atol=1e-5)


def test_noise_ablation_model_gets_noise_instead_of_heatmaps() -> None:
    """Gau. Noise (Table IV): same shapes as the rendered maps, but unstructured and fresh on every call."""
    G, _ = tiny_models("sel_norm", "hierarchical")
    noisy = build(G.config, Variant(heatmap_sampling="noise"))
    hb = sample_heatmaps(G.config.heatmap, 2, seed=0)
    maps, a, b = G.heatmap_inputs(hb), noisy.heatmap_inputs(hb), noisy.heatmap_inputs(hb)
    assert {r: m.shape for r, m in a.items()} == {r: m.shape for r, m in maps.items()}
    assert all(not torch.equal(a[r], maps[r]) and not torch.equal(a[r], b[r]) for r in maps)
    assert all(a[r].min() < 0 for r in maps)  # Gaussian noise, not a heatmap in [0, 1]


@pytest.mark.parametrize("encoding,mode", [("sel_norm", "hierarchical"), ("sel_indoor", "multi")])
def test_flat_const_input_is_one_vector_and_renders_fused_and_plain(encoding: str, mode: str) -> None:
    g, _ = tiny_configs(encoding, mode)
    torch.manual_seed(1)
    G = build(g, Variant(const_input="flat")).eval()
    assert G.synthesis.blocks[0].const.shape == (1, g.channels(4), 1, 1)
    ws, _, hm = _inputs(G, 2)
    with torch.inference_mode():
        fast = fuse(G).synthesis(ws, hm, noise_mode="const").image
        ref = G.synthesis(ws, hm, noise_mode="const").image
    assert ref.abs().max() > 0.1
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="const_input"):
        Variant(const_input="random")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="independent"):
        build(tiny_configs("sel_indoor", "multi")[0], Variant(heatmap_sampling="independent"))


@pytest.mark.parametrize("encoding", ["sel_norm", "sel_concat"])
def test_sel_gain_sets_how_strongly_the_heatmaps_reach_the_image(encoding: str) -> None:
    """--sel-gain: with the same weights, a larger residual gain makes other heatmaps change the image more; the
    fused copy folds the gain into its weights and still matches the reference."""
    g, _ = tiny_configs(encoding, "hierarchical")
    torch.manual_seed(1)
    weak = Generator(g).eval()
    strong = build(g, Variant(sel_gain=1.0)).eval()
    strong.load_state_dict(weak.state_dict())
    ws, _, hm = _inputs(weak, 2, seed=3)
    _, _, other = _inputs(weak, 2, seed=4)
    change = {}
    for name, G in (("weak", weak), ("strong", strong)):
        with torch.inference_mode():
            img = G.synthesis(ws, hm, noise_mode="const").image
            change[name] = (G.synthesis(ws, other, noise_mode="const").image - img).abs().mean()
            torch.testing.assert_close(fuse(G).synthesis(ws, hm, noise_mode="const").image, img, rtol=1e-4, atol=1e-4)
    assert change["strong"] > 2 * change["weak"] > 0
    for bad in (0.0, -0.1, float("nan")):
        with pytest.raises(ConfigError, match="sel_residual_gain"):
            Variant(sel_gain=bad)
