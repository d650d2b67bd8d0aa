"""Photo inversion (`spatialgan.inversion`, `spatialgan-invert`) on held-out procedural images: images no bundled
model trained on (another dataset seed), at reduced steps. Each stage must improve the reconstruction, and the
session it writes must open in the editor's session reader with the tuned weights beside it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.state import read_session
from spatialgan import load_checkpoint, load_generator
from spatialgan.cli.invert import main as invert_main
from spatialgan.data.procedural import PetsDataset, RoomsDataset
from spatialgan.heatmaps import sample_heatmaps
from spatialgan.config import HeatmapConfig
from spatialgan.inversion import InversionConfig, LayoutFit, find_objects, invert, psnr
from spatialgan.photo import to_tensor

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = 7919  # a dataset seed no bundled model was trained on (they used seed 0)


def test_each_stage_improves_the_reconstruction() -> None:
    G, _ = load_generator(str(ROOT / "checkpoints" / "pets64.safetensors"), None, "cpu")
    sample = PetsDataset(64, seed=HELD_OUT).sample(3)
    target = to_tensor(sample.image)
    seen: list[str] = []
    r = invert(G, target, InversionConfig(w_steps=25, wplus_steps=25, pti_steps=25, locality_samples=1),
               callback=lambda stage, step, loss: seen.append(stage))
    assert r.psnr["w"] < r.psnr["w+"] < r.psnr["final"], r.psnr
    assert r.psnr["final"] > 20, r.psnr
    assert seen.count("w") == seen.count("w+") == seen.count("pti") == 25
    assert abs(psnr(r.image, target) - r.psnr["final"]) < 1e-6
    assert r.spec is not None and len(r.spec.levels) == 3
    assert r.model is not G and any(not torch.equal(a, b) for a, b in zip(r.model.parameters(), G.parameters()))
    with torch.no_grad():  # the locality term: another latent's picture barely moves under the tuned weights
        from spatialgan import render
        other = G.seed_ws(123, psi=0.7)
        before, after = render(G, other, r.spec.to_batch()).image, render(r.model, other, r.spec.to_batch()).image
    assert (after - before).abs().mean() < 0.5 * (r.image - render(G, r.ws, r.spec.to_batch()).image).abs().mean() + 0.05


def test_the_tuning_keeps_every_locality_latent_though_each_step_draws_one() -> None:
    """PTI draws the photo's latent and one locality latent per step, in turn: with the term on, each of those
    latents' pictures moves less than with it off."""
    from spatialgan import render

    G, _ = load_generator(str(ROOT / "checkpoints" / "pets64.safetensors"), None, "cpu")
    target = to_tensor(PetsDataset(64, seed=HELD_OUT).sample(4).image)
    drift = {}
    for weight in (0.0, 1.0):
        cfg = InversionConfig(starts=1, w_steps=10, wplus_steps=10, pti_steps=40, lr_pti=3e-3, locality=weight,
                              locality_samples=3)
        r = invert(G, target, cfg)
        assert r.spec is not None
        with torch.no_grad():
            layouts = r.spec.to_batch()
            drift[weight] = [float((render(r.model, G.seed_ws(10_000 + s, psi=0.7), layouts).image
                                    - render(G, G.seed_ws(10_000 + s, psi=0.7), layouts).image).abs().mean())
                             for s in range(3)]
    assert all(kept < free for kept, free in zip(drift[1.0], drift[0.0])), drift


def test_cancel_keeps_what_was_found() -> None:
    G, _ = load_generator(str(ROOT / "checkpoints" / "rooms64.safetensors"), None, "cpu")
    target = to_tensor(PetsDataset(64, seed=HELD_OUT).sample(1).image)
    r = invert(G, target, InversionConfig(starts=1, w_steps=50, wplus_steps=50, pti_steps=50), cancelled=lambda: True)
    assert r.ws.shape == (1, 4, G.config.num_ws, G.config.w_dim) and np.isfinite(r.psnr["final"])


def test_the_invert_command_writes_a_session_the_editor_reads(tmp_path: Path, capsys) -> None:
    photo = tmp_path / "pet.png"
    img = Image.fromarray(PetsDataset(128, seed=HELD_OUT).sample(5).image).crop((0, 10, 128, 110))
    img.convert("RGBA").save(photo)  # not square, with alpha
    out = tmp_path / "inv"
    assert invert_main([str(photo), "--model", str(ROOT / "checkpoints" / "pets64.safetensors"), "--out", str(out),
                        "--steps", "5"]) == 0
    assert (out / "reconstruction.png").exists() and (out / "tuned.safetensors").exists()
    model_path, edit = read_session(out / "session.json", 64, 1)
    assert model_path == str((out / "tuned.safetensors").resolve())
    assert edit.ws_override is not None and edit.spec is not None and edit.homes == edit.spec.object_places()
    ck = load_checkpoint(model_path)
    assert len(ck.info.meta["base_sha256"]) == 64
    assert "open it: bash tools/editor.sh" in capsys.readouterr().out
    for argv, message in (([str(tmp_path / "none.png")], "no photo"), ([str(photo), "--steps", "0"], "--steps")):
        assert invert_main([*argv, "--model", str(ROOT / "checkpoints" / "pets64.safetensors"), "--out",
                            str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert "error: " in err and message in err and "Traceback" not in err


def blobs(places: list[tuple[float, float]], r: int = 64) -> torch.Tensor:
    """A flat grey picture with a bright square of side 0.16 at each place."""
    img = torch.full((1, 3, r, r), -0.2)
    for x, y in places:
        cx, cy, h = round(x * r), round(y * r), round(0.08 * r)
        img[:, :, cy - h:cy + h, cx - h:cx + h] = torch.tensor([0.9, 0.6, -0.8])[:, None, None]
    return img


def test_find_objects_finds_what_the_background_lacks() -> None:
    background = blobs([])
    (x, y), = find_objects(blobs([(0.3, 0.7)]), background, 1)
    assert abs(x - 0.3) < 0.02 and abs(y - 0.7) < 0.02
    found = sorted(find_objects(blobs([(0.25, 0.3), (0.7, 0.65), (0.75, 0.2)]), background, 3))
    for (fx, fy), (tx, ty) in zip(found, sorted([(0.25, 0.3), (0.7, 0.65), (0.75, 0.2)])):
        assert math.hypot(fx - tx, fy - ty) < 0.02, found
    # the background's own texture is not an object: a photo equal to it has none to find, and the answer is safe
    assert find_objects(background, background, 2) == [(0.5, 0.5)] * 2


def test_layout_fit_moves_trees_with_their_roots_and_prefers_trained_layouts() -> None:
    batch = sample_heatmaps(HeatmapConfig(), 1, seed=3)
    fit = LayoutFit(batch, weight=1.0)
    for lv, got in zip(batch.levels, fit.batch().levels):  # the parametrisation draws the layout it was given
        assert torch.allclose(lv.centres, got.centres, atol=1e-6) and torch.allclose(lv.sigmas, got.sigmas)
    fit.place([(0.2, 0.8)])
    moved = fit.batch()
    shift = moved.levels[0].centres - batch.levels[0].centres
    for lv, got in zip(batch.levels, moved.levels):  # every centre of the tree followed its root
        assert torch.allclose(got.centres - lv.centres, shift.expand_as(lv.centres), atol=1e-6)
    trained = float(fit.prior().detach())
    with torch.no_grad():
        fit.offsets[-1] += 0.4  # the finest centres wander off the object
    assert float(fit.prior().detach()) > trained + 10
    with torch.no_grad():
        fit.offsets[-1] -= 0.4
        fit.root += 0.1  # the root leaves where the object was seen
    assert float(fit.prior().detach()) > trained + 3


@pytest.mark.parametrize("name", ["pets64", "rooms64"])
def test_held_out_photos_reach_the_targets(name: str) -> None:
    """At reduced steps (fewer W+ steps, two locality latents instead of four), three held-out pictures of each
    family reconstruct to a median of 28 dB after tuning, and every pet's recovered root lies within 0.1 of the
    pet's true centre: the issue's targets, which bench/inversion.py measures on 50 images at full steps."""
    G, _ = load_generator(str(ROOT / "checkpoints" / f"{name}.safetensors"), None, "cpu")
    data = (PetsDataset if name.startswith("pets") else RoomsDataset)(64, seed=HELD_OUT)
    cfg = InversionConfig(w_steps=80, wplus_steps=50, pti_steps=100, locality_samples=2)
    finals = []
    for index in range(3):
        sample = data.sample(index)
        r = invert(G, to_tensor(sample.image), cfg)
        finals.append(r.psnr["final"])
        assert r.spec is not None
        if name.startswith("pets"):
            (x, y), = r.spec.object_places()
            (tx, ty), = sample.centres
            assert math.hypot(x - tx, y - ty) <= 0.1, (index, (x, y), (tx, ty))
    assert sorted(finals)[1] >= 28, finals


def test_inception_distance_grows_with_the_difference_and_has_gradients() -> None:
    from spatialgan.metrics.perceptual import InceptionDistance

    d = InceptionDistance()
    a = to_tensor(PetsDataset(64, seed=HELD_OUT).sample(0).image)
    noise = torch.randn(a.shape, generator=torch.Generator().manual_seed(0))
    small, large = (a + 0.05 * noise).clamp(-1, 1), (a + 0.4 * noise).clamp(-1, 1)
    assert float(d(a, a)) < 1e-9 < float(d(a, small)) < float(d(a, large))
    assert float(d(a, torch.flip(a, [3]))) > float(d(a, small))  # a mirrored picture is another picture
    x = small.clone().requires_grad_(True)
    d(x, a).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_the_perceptual_term_is_used_and_its_missing_weights_are_one_clear_line(tmp_path: Path, capsys,
                                                                               monkeypatch) -> None:
    photo = tmp_path / "pet.png"
    Image.fromarray(PetsDataset(64, seed=HELD_OUT).sample(2).image).save(photo)
    model = str(ROOT / "checkpoints" / "pets64.safetensors")
    assert invert_main([str(photo), "--model", model, "--out", str(tmp_path / "a"), "--steps", "3", "--no-tune",
                        "--perceptual", "0.5"]) == 0
    capsys.readouterr()
    import spatialgan.inversion as inversion
    import spatialgan.metrics.inception as inception
    from spatialgan.metrics.inception import InceptionMissingError

    def missing() -> Path:
        raise InceptionMissingError("the FID Inception network (default_1.pt) is not installed; run: pip ...")

    inversion.inception_distance.cache_clear()
    monkeypatch.setattr(inception, "find_inception_file", missing)
    try:
        assert invert_main([str(photo), "--model", model, "--out", str(tmp_path / "b"), "--steps", "3",
                            "--perceptual", "0.5"]) == 2
    finally:
        inversion.inception_distance.cache_clear()
    err = capsys.readouterr().err
    assert "not installed" in err and "Traceback" not in err and not (tmp_path / "b" / "session.json").exists()
